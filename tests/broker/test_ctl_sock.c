/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/ctl_sock.h (SOCK_SEQPACKET + SCM_RIGHTS + SO_PEERCRED). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ctl_sock.h"

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_message_boundaries_are_preserved(void **state)
{
	(void)state;
	int sv[2];
	char buf[64];
	pair(sv);
	assert_int_equal(shmq_ctl_sock_send(sv[0], "one", 3, NULL, 0, 0), 0);
	assert_int_equal(shmq_ctl_sock_send(sv[0], "second", 6, NULL, 0, 0), 0);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, 0), 3);
	assert_memory_equal(buf, "one", 3);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, 0), 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, MSG_DONTWAIT), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

static void test_passed_fd_works_and_arrives_close_on_exec(void **state)
{
	(void)state;
	int sv[2], p[2], got[SHMQ_CTL_SOCK_MAX_FDS];
	unsigned ngot = 99;
	char buf[16];
	pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(shmq_ctl_sock_send(sv[0], "fd", 2, &p[1], 1, 0), 0);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), got, 1, &ngot, 0), 2);
	assert_int_equal(ngot, 1);
	assert_int_not_equal(got[0], p[1]);
	assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(got[0], "x", 1), 1);
	assert_int_equal(read(p[0], buf, 1), 1);
	assert_int_equal(buf[0], 'x');
	close(got[0]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_fds_beyond_the_callers_limit_are_closed_and_reported(void **state)
{
	(void)state;
	int sv[2], p[2], got[SHMQ_CTL_SOCK_MAX_FDS];
	unsigned ngot = 99;
	char buf[16];
	pair(sv);
	assert_int_equal(pipe(p), 0);
	int three[3] = { p[0], p[1], p[0] };
	int before = open_fds();
	assert_int_equal(shmq_ctl_sock_send(sv[0], "m", 1, three, 3, 0), 0);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), got, 1, &ngot, 0), -EBADMSG);
	assert_int_equal(ngot, 0);
	assert_int_equal(open_fds(), before);
	/* a message with fds to a caller that expects none: same */
	assert_int_equal(shmq_ctl_sock_send(sv[0], "m", 1, three, 1, 0), 0);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, 0), -EBADMSG);
	assert_int_equal(open_fds(), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_truncated_message_is_an_error_and_its_fds_are_closed(void **state)
{
	(void)state;
	int sv[2], p[2], got[SHMQ_CTL_SOCK_MAX_FDS];
	unsigned ngot = 99;
	char buf[4];
	pair(sv);
	assert_int_equal(pipe(p), 0);
	int before = open_fds();
	assert_int_equal(shmq_ctl_sock_send(sv[0], "too long", 8, p, 2, 0), 0);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), got, 4, &ngot, 0), -EMSGSIZE);
	assert_int_equal(ngot, 0);
	assert_int_equal(open_fds(), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_control_truncation_is_an_error_and_delivered_fds_are_closed(void **state)
{
	(void)state;
	/* 8 fds through raw sendmsg: more than the receive buffer holds, so
	 * the kernel sets MSG_CTRUNC and installs only what fits */
	int sv[2], p[2], got[SHMQ_CTL_SOCK_MAX_FDS];
	unsigned ngot = 99;
	char buf[16];
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr a;
	} cb;
	pair(sv);
	assert_int_equal(pipe(p), 0);
	int before = open_fds();
	struct iovec iov = { .iov_base = "c", .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b,
			     .msg_controllen = sizeof(cb.b) };
	memset(&cb, 0, sizeof(cb));
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * 8);
	for (int i = 0; i < 8; i++)
		memcpy(CMSG_DATA(c) + i * sizeof(int), &p[i & 1], sizeof(int));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 1);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), got, 4, &ngot, 0), -EBADMSG);
	assert_int_equal(ngot, 0);
	assert_int_equal(open_fds(), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_closed_peer_reads_as_zero_and_send_gets_epipe_without_signal(void **state)
{
	(void)state;
	int sv[2];
	char buf[16];
	pair(sv);
	close(sv[0]);
	assert_int_equal(shmq_ctl_sock_recv(sv[1], buf, sizeof(buf), NULL, 0, NULL, 0), 0);
	/* MSG_NOSIGNAL: no SIGPIPE kills the test process here */
	assert_int_equal(shmq_ctl_sock_send(sv[1], "x", 1, NULL, 0, 0), -EPIPE);
	close(sv[1]);
}

static void test_bad_arguments_are_refused(void **state)
{
	(void)state;
	int fds[8] = { 0 };
	char buf[4];
	unsigned n;
	assert_int_equal(shmq_ctl_sock_send(-1, "x", 1, NULL, 0, 0), -EINVAL);
	assert_int_equal(shmq_ctl_sock_send(3, "x", 1, fds, SHMQ_CTL_SOCK_MAX_FDS + 1, 0), -EINVAL);
	assert_int_equal(shmq_ctl_sock_send(3, "x", 1, NULL, 1, 0), -EINVAL);
	assert_int_equal(shmq_ctl_sock_recv(3, buf, sizeof(buf), NULL, 1, &n, 0), -EINVAL);
	assert_int_equal(shmq_ctl_sock_recv(3, buf, 0, NULL, 0, NULL, 0), -EINVAL);
}

static void test_peercred_names_the_connecting_process_not_what_it_claims(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmq_ctl_sock_XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0711), 0); /* the child may run as nobody */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(chmod(sa.sun_path, 0777), 0);
	assert_int_equal(listen(ls, 4), 0);
	bool root = geteuid() == 0;
	const uid_t want_uid = root ? 65534 : geteuid();
	const gid_t want_gid = root ? 65534 : getegid();

	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* as root, become nobody first: the broker must see that uid */
		if (root && (setgid(want_gid) != 0 || setuid(want_uid) != 0))
			_exit(2);
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(3);
		char b[4];
		/* wait for the parent to finish, then exit */
		_exit(shmq_ctl_sock_recv(s, b, sizeof(b), NULL, 0, NULL, 0) == 0 ? 0 : 4);
	}
	/* never block forever if the child failed before connecting */
	struct timeval tv = { .tv_sec = 10 };
	assert_int_equal(setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	assert_true(cs >= 0);
	pid_t pid;
	uid_t uid;
	gid_t gid;
	assert_int_equal(shmq_ctl_sock_peercred(cs, &pid, &uid, &gid), 0);
	assert_int_equal(pid, child);
	assert_int_equal(uid, want_uid);
	assert_int_equal(gid, want_gid);
	close(cs); /* the child sees the close as a 0-byte read */
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(ls);
	unlink(sa.sun_path);
	rmdir(dir);
	assert_int_equal(shmq_ctl_sock_peercred(-1, NULL, NULL, NULL), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_boundaries_are_preserved),
		cmocka_unit_test(test_passed_fd_works_and_arrives_close_on_exec),
		cmocka_unit_test(test_fds_beyond_the_callers_limit_are_closed_and_reported),
		cmocka_unit_test(test_truncated_message_is_an_error_and_its_fds_are_closed),
		cmocka_unit_test(test_control_truncation_is_an_error_and_delivered_fds_are_closed),
		cmocka_unit_test(test_closed_peer_reads_as_zero_and_send_gets_epipe_without_signal),
		cmocka_unit_test(test_bad_arguments_are_refused),
		cmocka_unit_test(test_peercred_names_the_connecting_process_not_what_it_claims),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
