/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmqd as a real process (broker/server.h): every test starts the built
 * binary (env SHMQD, set by meson) on a fresh mkdtemp base directory and
 * talks to it with the raw control protocol (common/ctl_sock.h +
 * common/ctl_codec.h), as libshmq does. Only processes this test started are
 * signalled, by pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "broker/store/commitlog.h"
#include "broker/store/cq_layout.h"
#include "common/ctl_codec.h"
#include "common/ctl_sock.h"
#include "common/offsets.h"
#include "common/ringmsg.h"
#include "shmq/ring.h"
#include "tests/common/tmpdir.h"

#define WAIT_MS 10000u

struct broker {
	pid_t pid;
	char base[64];
	char sock[100];
	char store[128];
	char rings[128];
	char pidfile[128];
	char log[128];
	const char *extra[8]; /* more flags, NULL-terminated */
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000l };
	nanosleep(&ts, NULL);
}

static void dump_log(const struct broker *b)
{
	FILE *f = fopen(b->log, "re");
	char line[1200];
	if (!f)
		return;
	fprintf(stderr, "---- shmqd log %s ----\n", b->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fprintf(stderr, "---- end of log ----\n");
	fclose(f);
}

static int sock_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void broker_init(struct broker *b)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->base, sizeof(b->base), "/tmp/shmq-srv-XXXXXX");
	assert_non_null(mkdtemp(b->base));
	/* other uids must reach the socket (the ACL test) */
	assert_int_equal(chmod(b->base, 0755), 0);
	snprintf(b->sock, sizeof(b->sock), "%s/shmqd.sock", b->base);
	snprintf(b->store, sizeof(b->store), "%s/store", b->base);
	snprintf(b->rings, sizeof(b->rings), "%s/rings", b->base);
	snprintf(b->pidfile, sizeof(b->pidfile), "%s/shmqd.pid", b->base);
	snprintf(b->log, sizeof(b->log), "%s/shmqd.log", b->base);
}

/* fork + exec shmqd; 0 once its socket answers (when @p wait_socket), or
 * the child's exit status (> 0) if it exited first, or -ETIMEDOUT. */
static int broker_launch(struct broker *b, bool wait_socket)
{
	const char *bin = getenv("SHMQD");
	const char *argv[40];
	int n = 0;
	argv[n++] = bin;
	argv[n++] = "--base-dir";
	argv[n++] = b->base;
	argv[n++] = "--control-socket";
	argv[n++] = b->sock;
	argv[n++] = "--pid-file";
	argv[n++] = b->pidfile;
	argv[n++] = "--segment-size";
	argv[n++] = "1M";
	argv[n++] = "--ring-capacity";
	argv[n++] = "64K";
	argv[n++] = "--max-message-size";
	argv[n++] = "4K";
	argv[n++] = "--offset-persist-interval-ms";
	argv[n++] = "100";
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	for (int i = 0; b->extra[i]; i++)
		argv[n++] = b->extra[i];
	argv[n] = NULL;
	int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(logfd >= 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(logfd);
	uint64_t t0 = now_ms();
	while (now_ms() - t0 < WAIT_MS) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		int fd = wait_socket ? sock_connect(b->sock) : -1;
		if (fd >= 0) {
			close(fd);
			b->pid = pid;
			return 0;
		}
		sleep_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

static void broker_start(struct broker *b)
{
	int rc = broker_launch(b, true);
	if (rc != 0)
		dump_log(b);
	assert_int_equal(rc, 0);
}

/* Signal our broker and reap it: its exit status, or 128 + signal. */
static int broker_signal(struct broker *b, int sig)
{
	assert_true(b->pid > 0);
	kill(b->pid, sig);
	uint64_t t0 = now_ms();
	int st = 0;
	while (waitpid(b->pid, &st, WNOHANG) == 0) {
		if (now_ms() - t0 > WAIT_MS) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &st, 0);
			b->pid = 0;
			dump_log(b);
			fail_msg("shmqd did not exit within %u ms of signal %d", WAIT_MS, sig);
		}
		sleep_ms(2);
	}
	b->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void broker_cleanup(struct broker *b)
{
	if (getenv("SHMQ_TEST_DUMP_LOG"))
		dump_log(b);
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
	shmq_test_rmtree(b->base);
}

/* ---- raw client ---- */

static uint64_t next_id = 1;

/* One round trip, without cmocka asserts (it also runs in forked children).
 * 0 with *resp the RESPONSE; the ERROR's status; a transport error (-errno);
 * -EPROTO for an answer that does not match the request. fd: NULL, or
 * receives the fd that came with the answer (or -1). */
static int request(int sock, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd)
{
	static uint8_t buf[SHMQ_CTL_MSG_MAX];
	req->request_id = next_id++;
	int n = shmq_ctl_encode(req, buf, sizeof(buf));
	if (n <= 0)
		return -EINVAL;
	int rc = shmq_ctl_sock_send(sock, buf, (size_t)n, NULL, 0, 0);
	if (rc < 0)
		return rc;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	if (poll(&p, 1, (int)WAIT_MS) != 1)
		return -ETIMEDOUT;
	int fds[1];
	unsigned nfds = 0;
	ssize_t len = shmq_ctl_sock_recv(sock, buf, sizeof(buf), fds, 1, &nfds, 0);
	if (len <= 0)
		return len == 0 ? -ECONNRESET : (int)len;
	rc = shmq_ctl_decode(buf, (size_t)len, resp);
	if (rc == 0 && resp->request_id != req->request_id)
		rc = -EPROTO;
	if (rc == 0 && resp->type == SHMQ_CTL_ERROR)
		rc = nfds ? -EPROTO : resp->u.error.status;
	else if (rc == 0 && (resp->type != req->type ||
			     !!(resp->flags & SHMQ_CTL_F_HAS_FD) != (nfds == 1)))
		rc = -EPROTO;
	if (fd && rc == 0)
		*fd = nfds ? fds[0] : -1;
	else if (nfds)
		close(fds[0]);
	return rc;
}

static struct shmq_ctl_msg *msg_new(void)
{
	struct shmq_ctl_msg *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	return m;
}

static struct shmq_ctl_msg *req_of(uint16_t type)
{
	struct shmq_ctl_msg *m = msg_new();
	shmq_ctl_msg_init(m, type, 0, 0);
	return m;
}

/* Connect and HELLO; returns the socket, *session the session id. */
static int client(const struct broker *b, uint64_t *session)
{
	int s = sock_connect(b->sock);
	assert_true(s >= 0);
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_HELLO), *r = msg_new();
	q->u.hello_req.client_version = SHMQ_CTL_VERSION;
	q->u.hello_req.role = SHMQ_CTL_ROLE_ALL;
	assert_int_equal(shmq_ctl_name_set(q->u.hello_req.group, "", true), 0);
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_not_equal(r->u.hello_resp.session_id, 0);
	if (session)
		*session = r->u.hello_resp.session_id;
	free(q);
	free(r);
	return s;
}

static int topic_create(int s, const char *topic, uint32_t queues)
{
	static struct shmq_ctl_msg q, r;
	shmq_ctl_msg_init(&q, SHMQ_CTL_TOPIC_CREATE, 0, 0);
	if (shmq_ctl_name_set(q.u.topic_create_req.topic, topic, false) < 0)
		return -EINVAL;
	q.u.topic_create_req.queues = queues;
	int rc = request(s, &q, &r, NULL);
	if (rc == 0 && (strcmp(r.u.topic_info.topic, topic) != 0 || r.u.topic_info.queues != queues))
		rc = -EPROTO;
	return rc;
}

/* OPEN_QUEUE; the ring's fd or a negative status. */
static int open_queue(int s, const char *topic, uint32_t queue, uint32_t mode)
{
	static struct shmq_ctl_msg q, r;
	shmq_ctl_msg_init(&q, SHMQ_CTL_OPEN_QUEUE, 0, 0);
	if (shmq_ctl_name_set(q.u.open_queue_req.topic, topic, false) < 0)
		return -EINVAL;
	q.u.open_queue_req.queue = queue;
	q.u.open_queue_req.mode = mode;
	int fd = -1;
	int rc = request(s, &q, &r, &fd);
	if (rc == 0 && r.u.open_queue_resp.ring_capacity != 64 * 1024) {
		close(fd);
		rc = -EPROTO;
	}
	return rc == 0 ? fd : rc;
}

static shmq_ring_t *attach_queue(int s, const char *topic, uint32_t queue)
{
	int fd = open_queue(s, topic, queue, SHMQ_CTL_OPEN_PRODUCE);
	assert_true(fd >= 0);
	shmq_ring_t *ring;
	assert_int_equal(shmq_ring_attach_fd(fd, &ring), 0);
	close(fd);
	return ring;
}

/* Write message (seq) with key "key-<seq>" and body "body-<seq>". */
static uint64_t produce(shmq_ring_t *ring, uint64_t seq)
{
	char body[32], key[32];
	snprintf(body, sizeof(body), "body-%" PRIu64, seq);
	snprintf(key, sizeof(key), "key-%" PRIu64, seq);
	struct shmq_ringmsg_in in = {
		.born_ts_ms = 1, .born_host = (uint64_t)getpid(), .producer_id = 77,
		.producer_seq = seq, .body = body, .body_len = (uint32_t)strlen(body), .keys = key,
	};
	int64_t len = shmq_ringmsg_size(&in);
	assert_true(len > 0);
	struct shmq_ring_claim c;
	int rc;
	uint64_t t0 = now_ms();
	while ((rc = shmq_ring_reserve(ring, 77, SHMQ_RING_TYPE_USER, (uint32_t)len, &c)) ==
	       SHMQ_BACK_PRESSURED) {
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(1);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(shmq_ringmsg_encode(c.data, c.len, &in), len);
	assert_int_equal(shmq_ring_commit(ring, &c), 0);
	return c.pos;
}

/* Wait until the broker persisted @p ring up to its tail. */
static void wait_persisted(shmq_ring_t *ring)
{
	uint64_t t0 = now_ms();
	uint64_t tail = shmq_ring_tail(ring);
	while (shmq_ring_mark(ring, SHMQ_RING_MARK_PERSISTED) < tail) {
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(2);
	}
}

static int status(int s, struct shmq_ctl_msg *r)
{
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_STATUS);
	int rc = request(s, q, r, NULL);
	free(q);
	return rc;
}

/* ------------------------------------------------------------------ */

static void test_hello_gives_a_session_id_and_the_broker_name(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	uint64_t s1, s2;
	int c1 = client(&b, &s1);
	int c2 = client(&b, &s2);
	assert_int_not_equal(s1, s2);
	/* a second HELLO on the same connection is refused */
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_HELLO), *r = msg_new();
	q->u.hello_req.client_version = SHMQ_CTL_VERSION;
	q->u.hello_req.role = SHMQ_CTL_ROLE_PRODUCER;
	assert_int_equal(request(c1, q, r, NULL), -EISCONN);
	/* a client speaking another protocol version is told so */
	int c3 = sock_connect(b.sock);
	q->u.hello_req.client_version = SHMQ_CTL_VERSION + 1;
	assert_int_equal(request(c3, q, r, NULL), -EPROTONOSUPPORT);
	q->u.hello_req.client_version = SHMQ_CTL_VERSION;
	assert_int_equal(request(c3, q, r, NULL), 0);
	assert_string_equal(r->u.hello_resp.broker_name, "shmqd");
	assert_int_equal(r->u.hello_resp.server_version, SHMQ_CTL_VERSION);
	assert_int_equal(status(c3, r), 0);
	assert_int_equal(r->u.status_resp.clients, 3);
	assert_int_equal(r->u.status_resp.pid, (uint32_t)b.pid);
	close(c1);
	close(c2);
	close(c3);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_request_before_hello_is_refused(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	int s = sock_connect(b.sock);
	assert_true(s >= 0);
	struct shmq_ctl_msg *r = msg_new();
	assert_int_equal(status(s, r), -EPROTO);
	assert_non_null(strstr(r->u.error.message, "HELLO"));
	/* the session is still usable once it says HELLO */
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_HELLO);
	q->u.hello_req.client_version = SHMQ_CTL_VERSION;
	q->u.hello_req.role = SHMQ_CTL_ROLE_ADMIN;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(status(s, r), 0);
	close(s);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_topic_create_describe_list_and_rings_exist(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	int s = client(&b, NULL);
	assert_int_equal(topic_create(s, "orders", 3), 0);
	assert_int_equal(topic_create(s, "audit", 1), 0);
	assert_int_equal(topic_create(s, "orders", 3), -EEXIST);
	for (unsigned q = 0; q < 3; q++) {
		char path[256];
		struct stat st;
		snprintf(path, sizeof(path), "%s/orders.%u.ring", b.rings, q);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_TOPIC_DESCRIBE), *r = msg_new();
	assert_int_equal(shmq_ctl_name_set(q->u.topic_describe_req.topic, "orders", false), 0);
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.topic_info.queues, 3);
	assert_true(r->u.topic_info.created_ns > 0);
	assert_int_equal(shmq_ctl_name_set(q->u.topic_describe_req.topic, "nope", false), 0);
	assert_int_equal(request(s, q, r, NULL), SHMQ_ENOTFOUND);

	shmq_ctl_msg_init(q, SHMQ_CTL_TOPIC_LIST, 0, 0);
	q->u.topic_list_req.start = 0;
	q->u.topic_list_req.max = SHMQ_CTL_LIST_MAX;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.topic_list_resp.hdr.total, 2);
	assert_int_equal(r->u.topic_list_resp.hdr.count, 2);
	assert_string_equal(r->u.topic_list_resp.names[0].topic, "audit");
	assert_string_equal(r->u.topic_list_resp.names[1].topic, "orders");
	q->u.topic_list_req.start = 1;
	q->u.topic_list_req.max = 1;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.topic_list_resp.hdr.count, 1);
	assert_string_equal(r->u.topic_list_resp.names[0].topic, "orders");

	/* RING_STATUS pages are in (topic, queue) order */
	shmq_ctl_msg_init(q, SHMQ_CTL_RING_STATUS, 0, 0);
	q->u.ring_status_req.start = 0;
	q->u.ring_status_req.max = SHMQ_CTL_RING_PAGE;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.ring_status_resp.hdr.total, 4);
	assert_int_equal(r->u.ring_status_resp.hdr.count, 4);
	assert_string_equal(r->u.ring_status_resp.entries[0].topic, "audit");
	assert_string_equal(r->u.ring_status_resp.entries[3].topic, "orders");
	assert_int_equal(r->u.ring_status_resp.entries[3].queue, 2);
	assert_int_equal(r->u.ring_status_resp.entries[3].capacity, 64 * 1024);

	/* OPEN_QUEUE of a queue the topic does not have, or of an unknown topic */
	assert_int_equal(open_queue(s, "orders", 3, SHMQ_CTL_OPEN_PRODUCE), -EINVAL);
	assert_int_equal(open_queue(s, "nope", 0, SHMQ_CTL_OPEN_PRODUCE), SHMQ_ENOTFOUND);
	close(s);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_auto_create_makes_topic_on_first_open_queue(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	b.extra[0] = "--auto-create-topics";
	b.extra[1] = "true";
	b.extra[2] = "--default-queues";
	b.extra[3] = "2";
	broker_start(&b);
	int s = client(&b, NULL);
	int fd = open_queue(s, "fresh", 1, SHMQ_CTL_OPEN_PRODUCE);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(topic_create(s, "fresh", 2), -EEXIST);
	/* a consumer group may be the first to name a topic */
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_GROUP_JOIN), *r = msg_new();
	assert_int_equal(shmq_ctl_name_set(q->u.group_req.group, "g", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.group_req.topic, "later", false), 0);
	q->u.group_req.mode = SHMQ_CTL_GROUP_BROADCASTING;
	assert_int_equal(request(s, q, r, &fd), 0);
	close(fd);
	assert_int_equal(r->u.group_join_resp.hdr.queues, 2);
	assert_int_equal(r->u.group_join_resp.hdr.count, 2); /* broadcasting: every queue */
	assert_int_equal(r->u.group_join_resp.hdr.mode, SHMQ_CTL_GROUP_BROADCASTING);
	free(q);
	free(r);
	close(s);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

/* The data path through a running broker: a ring fd that attaches, a message
 * persisted with its result words written back, and the store reachable
 * through QUERY_KEY, OPEN_SEGMENT and OPEN_CQ. */
static void test_ring_fd_attaches_and_messages_are_persisted_and_readable(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	int s = client(&b, NULL);
	assert_int_equal(topic_create(s, "t", 2), 0);
	shmq_ring_t *ring = attach_queue(s, "t", 1);
	assert_int_equal(shmq_ring_capacity(ring), 64 * 1024);
	enum { N = 20 };
	uint64_t pos[N];
	for (uint64_t i = 0; i < N; i++)
		pos[i] = produce(ring, i);
	wait_persisted(ring);
	/* result words: commitlog offset and queue offset, in the ring */
	uint64_t rpos = pos[0];
	struct shmq_ring_msg m[N];
	int n = shmq_ring_read(ring, &rpos, m, N);
	assert_int_equal(n, N);
	uint64_t cl_off[N];
	for (int i = 0; i < N; i++) {
		uint64_t so, qo;
		shmq_ringmsg_result_get(m[i].data, &so, &qo);
		assert_int_equal(qo, (uint64_t)i);
		assert_int_not_equal(so, SHMQ_RINGMSG_RESULT_NONE);
		cl_off[i] = so;
	}
	assert_int_equal(shmq_ring_read_check(ring, pos[0]), 0);

	struct shmq_ctl_msg *r = msg_new();
	uint64_t t0 = now_ms();
	for (;;) {
		assert_int_equal(status(s, r), 0);
		if (r->u.status_resp.messages >= N)
			break;
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(5);
	}
	assert_int_equal(r->u.status_resp.messages, N);
	assert_int_equal(r->u.status_resp.rings, 2);
	assert_int_equal(r->u.status_resp.topics, 1);
	assert_int_equal(r->u.status_resp.fenced_rings, 0);
	assert_true(r->u.status_resp.commitlog_max_offset > cl_off[N - 1]);
	assert_true(r->u.status_resp.store_bytes >= 1024 * 1024);
	assert_true(r->u.status_resp.disk_total > 0);
	assert_int_equal(r->u.status_resp.flush_mode, 0);

	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_RING_STATUS);
	q->u.ring_status_req.start = 1;
	q->u.ring_status_req.max = 1;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.ring_status_resp.hdr.count, 1);
	const struct shmq_ctl_ring_entry *re = &r->u.ring_status_resp.entries[0];
	assert_int_equal(re->queue, 1);
	assert_int_equal(re->persisted, shmq_ring_tail(ring));
	assert_int_equal(re->tail, shmq_ring_tail(ring));
	assert_int_equal(re->next_queue_offset, N);

	/* QUERY_KEY finds message 7 by its key */
	free(q);
	q = req_of(SHMQ_CTL_QUERY_KEY);
	assert_int_equal(shmq_ctl_name_set(q->u.query_key_req.topic, "t", false), 0);
	snprintf(q->u.query_key_req.key, sizeof(q->u.query_key_req.key), "key-7");
	q->u.query_key_req.begin_ms = 0;
	q->u.query_key_req.end_ms = UINT64_MAX;
	q->u.query_key_req.max = 8;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.query_resp.hdr.count, 1);
	struct shmq_ctl_query_hit hit = r->u.query_resp.hits[0];
	assert_int_equal(hit.commitlog_offset, cl_off[7]);
	assert_int_equal(hit.queue, 1);

	/* OPEN_SEGMENT: a read-only fd whose bytes decode to that message */
	shmq_ctl_msg_init(q, SHMQ_CTL_OPEN_SEGMENT, 0, 0);
	q->u.open_segment_req.offset = hit.commitlog_offset;
	int fd = -1;
	assert_int_equal(request(s, q, r, &fd), 0);
	assert_true(fd >= 0);
	assert_true(r->u.open_segment_resp.base_offset <= hit.commitlog_offset);
	assert_int_equal(r->u.open_segment_resp.file_size, 1024 * 1024);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	uint64_t base = r->u.open_segment_resp.base_offset, fsz = r->u.open_segment_resp.file_size;
	uint8_t *map = mmap(NULL, fsz, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(write(fd, "x", 1), -1); /* read-only */
	close(fd);
	struct shmq_store_view v;
	int reason = 0;
	assert_int_equal(shmq_cl_decode(map + (hit.commitlog_offset - base),
					fsz - (hit.commitlog_offset - base), hit.commitlog_offset, true,
					&v, &reason),
			 SHMQ_CL_DEC_MSG);
	assert_int_equal(v.body_len, strlen("body-7"));
	assert_memory_equal(v.body, "body-7", v.body_len);
	assert_int_equal(v.queue_offset, 7);
	munmap(map, fsz);

	/* OPEN_CQ: entry 7 of file 0 points at the same record */
	free(q);
	q = req_of(SHMQ_CTL_OPEN_CQ);
	assert_int_equal(shmq_ctl_name_set(q->u.open_cq_req.topic, "t", false), 0);
	q->u.open_cq_req.queue = 1;
	q->u.open_cq_req.file_index = 0;
	assert_int_equal(request(s, q, r, &fd), 0);
	assert_int_equal(r->u.open_cq_resp.max_queue_offset, N);
	assert_int_equal(r->u.open_cq_resp.min_queue_offset, 0);
	assert_true(r->u.open_cq_resp.entries_per_file > 7);
	struct shmq_cq_entry_disk e;
	assert_int_equal(pread(fd, &e, sizeof(e), 7 * SHMQ_CQ_ENTRY_SIZE), (ssize_t)sizeof(e));
	assert_int_equal(e.commitlog_offset, cl_off[7]);
	assert_int_equal(e.size, hit.size);
	close(fd);
	/* queue 0 never stored anything; file 1 does not exist */
	q->u.open_cq_req.queue = 0;
	assert_int_equal(request(s, q, r, &fd), SHMQ_ENOTFOUND);
	q->u.open_cq_req.queue = 1;
	q->u.open_cq_req.file_index = 1;
	assert_int_equal(request(s, q, r, &fd), SHMQ_ENOTFOUND);
	shmq_ctl_msg_init(q, SHMQ_CTL_OPEN_SEGMENT, 0, 0);
	q->u.open_segment_req.offset = 1ull << 40;
	assert_int_equal(request(s, q, r, &fd), SHMQ_ENOTFOUND);

	shmq_ring_close(ring);
	close(s);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_malformed_datagrams_get_errors_and_broker_stays_up(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	int s = client(&b, NULL);
	uint8_t buf[256];
	static uint8_t in[SHMQ_CTL_MSG_MAX];
	struct shmq_ctl_msg *r = msg_new();
	unsigned seed = (unsigned)time(NULL);
	printf("seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 50; round++) {
		/* a valid header with random body bytes, or pure noise, or a
		 * header claiming another version */
		size_t len = 1 + (size_t)rand() % sizeof(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		struct shmq_ctl_hdr h = { .magic = SHMQ_CTL_MAGIC, .version = SHMQ_CTL_VERSION,
					  .type = (uint16_t)(1 + rand() % SHMQ_CTL_TYPE_MAX),
					  .length = (uint32_t)(len > 24 ? len - 24 : 0),
					  .request_id = 1000u + (unsigned)round };
		if (round % 3 == 0 && len >= sizeof(h))
			memcpy(buf, &h, sizeof(h));
		if (round % 3 == 1 && len >= sizeof(h)) {
			h.version = 99;
			memcpy(buf, &h, sizeof(h));
		}
		assert_int_equal(shmq_ctl_sock_send(s, buf, len, NULL, 0, 0), 0);
		struct pollfd p = { .fd = s, .events = POLLIN };
		assert_int_equal(poll(&p, 1, (int)WAIT_MS), 1);
		unsigned nfds;
		ssize_t n = shmq_ctl_sock_recv(s, in, sizeof(in), NULL, 0, &nfds, 0);
		assert_true(n > 0);
		assert_int_equal(shmq_ctl_decode(in, (size_t)n, r), 0);
		if (r->type == SHMQ_CTL_ERROR) {
			assert_true(r->u.error.status < 0);
			if (len >= sizeof(h) && round % 3 != 2)
				assert_int_equal(r->request_id, 1000u + (unsigned)round);
		}
	}
	/* a datagram larger than any message */
	static uint8_t big[SHMQ_CTL_MSG_MAX + 100];
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(shmq_ctl_sock_send(s, big, sizeof(big), NULL, 0, 0), 0);
	struct pollfd p = { .fd = s, .events = POLLIN };
	assert_int_equal(poll(&p, 1, (int)WAIT_MS), 1);
	ssize_t n = shmq_ctl_sock_recv(s, in, sizeof(in), NULL, 0, &(unsigned){ 0 }, 0);
	assert_true(n > 0);
	assert_int_equal(shmq_ctl_decode(in, (size_t)n, r), 0);
	assert_int_equal(r->type, SHMQ_CTL_ERROR);
	assert_int_equal(r->u.error.status, -EMSGSIZE);
	/* still serving, on this session and new ones */
	assert_int_equal(status(s, r), 0);
	int s2 = client(&b, NULL);
	assert_int_equal(status(s2, r), 0);
	close(s);
	close(s2);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

/* Run @p fn in a child that dropped to uid/gid 65534 before connecting. */
static int as_nobody(const struct broker *b, int (*fn)(const struct broker *))
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
			_exit(100);
		_exit(fn(b));
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* In the child: small exit codes say which check failed (0 = all passed). */
static int nobody_checks(const struct broker *b)
{
	static struct shmq_ctl_msg q, r;
	int s = sock_connect(b->sock);
	if (s < 0)
		return 1;
	shmq_ctl_msg_init(&q, SHMQ_CTL_HELLO, 0, 0);
	q.u.hello_req.client_version = SHMQ_CTL_VERSION;
	q.u.hello_req.role = SHMQ_CTL_ROLE_ALL;
	if (request(s, &q, &r, NULL) != 0)
		return 2;
	if (open_queue(s, "secret", 0, SHMQ_CTL_OPEN_PRODUCE) != -EACCES)
		return 3;
	if (open_queue(s, "secret", 0, SHMQ_CTL_OPEN_CONSUME) != -EACCES)
		return 4;
	if (topic_create(s, "mine", 1) != -EACCES)
		return 5;
	/* "public" grants consume to anyone, not produce */
	int fd = open_queue(s, "public", 0, SHMQ_CTL_OPEN_CONSUME);
	if (fd < 0)
		return 6;
	close(fd);
	if (open_queue(s, "public", 0, SHMQ_CTL_OPEN_PRODUCE) != -EACCES)
		return 7;
	shmq_ctl_msg_init(&q, SHMQ_CTL_GROUP_JOIN, 0, 0);
	shmq_ctl_name_set(q.u.group_req.group, "g", false);
	shmq_ctl_name_set(q.u.group_req.topic, "secret", false);
	q.u.group_req.mode = SHMQ_CTL_GROUP_CLUSTERING;
	if (request(s, &q, &r, NULL) != -EACCES)
		return 8;
	if (strstr(r.u.error.message, "65534") == NULL)
		return 9;
	close(s);
	return 0;
}

static void test_acl_refuses_another_uid(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("SKIP: needs root to run a client as uid 65534\n");
		skip();
	}
	struct broker b;
	broker_init(&b);
	b.extra[0] = "--acl";
	b.extra[1] = "public=any:c";
	broker_start(&b);
	int s = client(&b, NULL);
	assert_int_equal(topic_create(s, "secret", 1), 0);
	assert_int_equal(topic_create(s, "public", 1), 0);
	assert_int_equal(as_nobody(&b, nobody_checks), 0);
	/* the broker's own uid (root here) keeps every right */
	int fd = open_queue(s, "secret", 0, SHMQ_CTL_OPEN_PRODUCE);
	assert_true(fd >= 0);
	close(fd);
	close(s);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_group_join_hands_the_offset_table_and_progress_follows_commits(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	uint64_t sid;
	int s = client(&b, &sid);
	assert_int_equal(topic_create(s, "gt", 4), 0);
	shmq_ring_t *ring = attach_queue(s, "gt", 2);
	for (uint64_t i = 0; i < 5; i++)
		produce(ring, i);
	wait_persisted(ring);

	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_GROUP_JOIN), *r = msg_new();
	assert_int_equal(shmq_ctl_name_set(q->u.group_req.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.group_req.topic, "gt", false), 0);
	q->u.group_req.mode = SHMQ_CTL_GROUP_CLUSTERING;
	int fd = -1;
	assert_int_equal(request(s, q, r, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(r->u.group_join_resp.hdr.member_id, sid);
	assert_int_equal(r->u.group_join_resp.hdr.queues, 4);
	/* the only member owns every queue */
	assert_int_equal(r->u.group_join_resp.hdr.count, 4);
	struct shmq_offsets_map om;
	assert_int_equal(shmq_offsets_attach_fd(fd, &om), 0);
	close(fd);
	assert_int_equal(om.queues, 4);
	/* acquire: pairs with the broker's release store of the owner word */
	assert_int_equal(atomic_load_explicit(&om.slots[2].owner, memory_order_acquire), sid);
	/* a member commits by a store into the table, no syscall; release:
	 * pairs with the broker's acquire load when it reads committed words */
	atomic_store_explicit(&om.slots[2].committed, 3, memory_order_release);

	shmq_ctl_msg_init(q, SHMQ_CTL_GROUP_PROGRESS, 0, 0);
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.topic, "gt", false), 0);
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.progress_resp.hdr.count, 4);
	assert_int_equal(r->u.progress_resp.hdr.members, 1);
	assert_int_equal(r->u.progress_resp.entries[2].committed, 3);
	assert_int_equal(r->u.progress_resp.entries[2].max_offset, 5);
	assert_int_equal(r->u.progress_resp.entries[2].owner, sid);

	/* COMMIT_OFFSET over the socket, then a reset to the earliest offset */
	shmq_ctl_msg_init(q, SHMQ_CTL_COMMIT_OFFSET, 0, 0);
	assert_int_equal(shmq_ctl_name_set(q->u.commit_req.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.commit_req.topic, "gt", false), 0);
	q->u.commit_req.queue = 2;
	q->u.commit_req.offset = 4;
	assert_int_equal(request(s, q, r, NULL), 0);
	/* acquire: pairs with the broker's store of the COMMIT_OFFSET value */
	assert_int_equal(atomic_load_explicit(&om.slots[2].committed, memory_order_acquire), 4);
	shmq_ctl_msg_init(q, SHMQ_CTL_GROUP_RESET, 0, 0);
	assert_int_equal(shmq_ctl_name_set(q->u.group_reset_req.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.group_reset_req.topic, "gt", false), 0);
	q->u.group_reset_req.kind = SHMQ_CTL_RESET_EARLIEST;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.progress_resp.entries[2].committed, 0);
	/* acquire: pairs with the broker's store of the reset value */
	assert_int_equal(atomic_load_explicit(&om.slots[2].committed, memory_order_acquire), 0);
	q->u.group_reset_req.kind = SHMQ_CTL_RESET_LATEST;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.progress_resp.entries[2].committed, 5);

	/* the offsets reach offsets.json (persist interval 100 ms) */
	char path[256];
	snprintf(path, sizeof(path), "%s/config/offsets.json", b.store);
	uint64_t t0 = now_ms();
	struct stat st;
	while (stat(path, &st) != 0) {
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(10);
	}
	/* a closed session is a departed member at once */
	close(s);
	int s2 = client(&b, NULL);
	shmq_ctl_msg_init(q, SHMQ_CTL_GROUP_PROGRESS, 0, 0);
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.topic, "gt", false), 0);
	t0 = now_ms();
	for (;;) {
		assert_int_equal(request(s2, q, r, NULL), 0);
		if (r->u.progress_resp.hdr.members == 0)
			break;
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(5);
	}
	assert_int_equal(r->u.progress_resp.entries[2].owner, 0);
	shmq_offsets_unmap(&om);
	shmq_ring_close(ring);
	close(s2);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static void test_sigterm_exits_0_with_clean_store_and_no_socket(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	char abort_path[256];
	snprintf(abort_path, sizeof(abort_path), "%s/abort", b.store);
	struct stat st;
	assert_int_equal(stat(abort_path, &st), 0); /* exists while the store is open */
	FILE *pf = fopen(b.pidfile, "re");
	assert_non_null(pf);
	int pid = 0;
	assert_int_equal(fscanf(pf, "%d", &pid), 1);
	fclose(pf);
	assert_int_equal(pid, b.pid);
	int s = client(&b, NULL);
	assert_int_equal(topic_create(s, "t", 1), 0);
	shmq_ring_t *ring = attach_queue(s, "t", 0);
	for (uint64_t i = 0; i < 50; i++)
		produce(ring, i);
	/* no wait: the shutdown drains what is committed */
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	assert_int_equal(shmq_ring_mark(ring, SHMQ_RING_MARK_PERSISTED), shmq_ring_tail(ring));
	assert_int_equal(stat(abort_path, &st), -1);
	assert_int_equal(stat(b.sock, &st), -1);
	assert_int_equal(stat(b.pidfile, &st), -1);
	shmq_ring_close(ring);
	close(s);
	broker_cleanup(&b);
}

static void test_second_broker_on_a_live_socket_refuses_to_start(void **state)
{
	(void)state;
	struct broker b, b2;
	broker_init(&b);
	broker_start(&b);
	broker_init(&b2);
	snprintf(b2.sock, sizeof(b2.sock), "%s", b.sock); /* same socket, other store */
	assert_int_equal(broker_launch(&b2, false), 1);
	struct stat st;
	assert_int_equal(stat(b.sock, &st), 0); /* not taken away from the live one */
	int s = client(&b, NULL);
	close(s);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	/* a stale socket file (nobody answers) is replaced */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", b.sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	broker_start(&b);
	s = client(&b, NULL);
	close(s);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
	broker_cleanup(&b2);
}

/* SIGKILL with messages committed in the ring but not yet persisted (the
 * ring outlives the broker): the restarted broker re-opens the ring,
 * recovers the store and persists them, once each. */
static void test_sigkill_restart_keeps_ring_and_store_data(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	int s = client(&b, NULL);
	assert_int_equal(topic_create(s, "k", 2), 0);
	shmq_ring_t *ring = attach_queue(s, "k", 1);
	enum { BEFORE = 30, AFTER = 25 };
	for (uint64_t i = 0; i < BEFORE; i++)
		produce(ring, i);
	wait_persisted(ring);
	close(s);
	assert_int_equal(broker_signal(&b, SIGKILL), 128 + SIGKILL);
	/* the broker is dead: these stay committed in the ring only */
	for (uint64_t i = BEFORE; i < BEFORE + AFTER; i++)
		produce(ring, i);
	assert_true(shmq_ring_mark(ring, SHMQ_RING_MARK_PERSISTED) < shmq_ring_tail(ring));
	broker_start(&b);
	wait_persisted(ring);
	s = client(&b, NULL);
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_GROUP_PROGRESS), *r = msg_new();
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.group, "any", false), 0);
	assert_int_equal(shmq_ctl_name_set(q->u.progress_req.topic, "k", false), 0);
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.progress_resp.entries[1].max_offset, BEFORE + AFTER);
	assert_int_equal(r->u.progress_resp.entries[0].max_offset, 0);
	/* the last message is stored once, under its key */
	shmq_ctl_msg_init(q, SHMQ_CTL_QUERY_KEY, 0, 0);
	assert_int_equal(shmq_ctl_name_set(q->u.query_key_req.topic, "k", false), 0);
	snprintf(q->u.query_key_req.key, sizeof(q->u.query_key_req.key), "key-%d",
		 BEFORE + AFTER - 1);
	q->u.query_key_req.end_ms = UINT64_MAX;
	q->u.query_key_req.max = 8;
	assert_int_equal(request(s, q, r, NULL), 0);
	assert_int_equal(r->u.query_resp.hdr.count, 1);
	/* the ring the restarted broker hands out is the same file */
	int fd = open_queue(s, "k", 1, SHMQ_CTL_OPEN_PRODUCE);
	struct stat st1, st2;
	assert_int_equal(fstat(fd, &st1), 0);
	assert_int_equal(fstat(shmq_ring_fd(ring), &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	close(fd);
	close(s);
	free(q);
	free(r);
	shmq_ring_close(ring);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

/* Connections that vanish without a word, and a client that sends requests
 * but never reads the answers: the broker drops that one and keeps serving. */
static void test_misbehaving_clients_do_not_stop_the_broker(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	broker_start(&b);
	for (int i = 0; i < 200; i++) {
		int fd = sock_connect(b.sock);
		assert_true(fd >= 0);
		close(fd);
	}
	int greedy = client(&b, NULL);
	struct shmq_ctl_msg *q = req_of(SHMQ_CTL_STATUS), *r = msg_new();
	static uint8_t buf[SHMQ_CTL_MSG_MAX];
	int n = shmq_ctl_encode(q, buf, sizeof(buf));
	assert_true(n > 0);
	uint64_t t0 = now_ms();
	int sent = 0, rc = 0;
	/* until the broker gives up on us (EPIPE/ECONNRESET) */
	while (now_ms() - t0 < WAIT_MS) {
		rc = shmq_ctl_sock_send(greedy, buf, (size_t)n, NULL, 0, MSG_DONTWAIT);
		if (rc == -EAGAIN) {
			sleep_ms(1);
			continue;
		}
		if (rc < 0)
			break;
		sent++;
	}
	printf("greedy client sent %d requests before: %s\n", sent, strerror(-rc));
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	close(greedy);
	int s = client(&b, NULL);
	t0 = now_ms();
	for (;;) {
		assert_int_equal(status(s, r), 0);
		if (r->u.status_resp.clients == 1)
			break;
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(5);
	}
	close(s);
	free(q);
	free(r);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	broker_cleanup(&b);
}

static bool file_has(const char *path, const char *text)
{
	char line[1200];
	bool found = false;
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* SIGHUP re-opens the log file (rotation: rename, then SIGHUP). */
static void test_sighup_reopens_the_log_file(void **state)
{
	(void)state;
	struct broker b;
	broker_init(&b);
	char logf[160], rotated[170];
	snprintf(logf, sizeof(logf), "%s/broker.log", b.base);
	snprintf(rotated, sizeof(rotated), "%s.1", logf);
	b.extra[0] = "--log-file";
	b.extra[1] = logf;
	broker_start(&b);
	assert_true(file_has(logf, "ready"));
	assert_int_equal(rename(logf, rotated), 0);
	kill(b.pid, SIGHUP);
	uint64_t t0 = now_ms();
	while (!file_has(logf, "log re-opened")) {
		assert_true(now_ms() - t0 < WAIT_MS);
		sleep_ms(5);
	}
	int s = client(&b, NULL); /* still serving */
	close(s);
	assert_int_equal(broker_signal(&b, SIGTERM), 0);
	assert_true(file_has(logf, "stopped cleanly"));
	assert_false(file_has(rotated, "stopped cleanly"));
	broker_cleanup(&b);
}

int main(void)
{
	if (!getenv("SHMQD")) {
		fprintf(stderr, "SHMQD (path of the built shmqd) is not set: run through meson test\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_gives_a_session_id_and_the_broker_name),
		cmocka_unit_test(test_request_before_hello_is_refused),
		cmocka_unit_test(test_topic_create_describe_list_and_rings_exist),
		cmocka_unit_test(test_auto_create_makes_topic_on_first_open_queue),
		cmocka_unit_test(test_ring_fd_attaches_and_messages_are_persisted_and_readable),
		cmocka_unit_test(test_malformed_datagrams_get_errors_and_broker_stays_up),
		cmocka_unit_test(test_acl_refuses_another_uid),
		cmocka_unit_test(test_group_join_hands_the_offset_table_and_progress_follows_commits),
		cmocka_unit_test(test_sigterm_exits_0_with_clean_store_and_no_socket),
		cmocka_unit_test(test_second_broker_on_a_live_socket_refuses_to_start),
		cmocka_unit_test(test_sigkill_restart_keeps_ring_and_store_data),
		cmocka_unit_test(test_sighup_reopens_the_log_file),
		cmocka_unit_test(test_misbehaving_clients_do_not_stop_the_broker),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
