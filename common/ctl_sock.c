/* SPDX-License-Identifier: Apache-2.0 */
/* One SOCK_SEQPACKET message with SCM_RIGHTS fds: see common/ctl_sock.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ctl_sock.h"

/* Control buffer for the most fds one message may carry, aligned for cmsghdr. */
union cmsg_buf {
	char buf[CMSG_SPACE(sizeof(int) * SHMQ_CTL_SOCK_MAX_FDS)];
	struct cmsghdr align;
};

int shmq_ctl_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		       int flags)
{
	union cmsg_buf cb;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (sock < 0 || (!buf && len) || nfds > SHMQ_CTL_SOCK_MAX_FDS || (nfds && !fds))
		return -EINVAL;
	if (nfds) {
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

ssize_t shmq_ctl_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds,
			   unsigned *nfds, int flags)
{
	union cmsg_buf cb;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf,
			     .msg_controllen = sizeof(cb.buf) };
	int got[SHMQ_CTL_SOCK_MAX_FDS * 2];
	unsigned ngot = 0;
	bool too_many = false;

	if (nfds)
		*nfds = 0;
	if (sock < 0 || !buf || cap == 0 || max_fds > SHMQ_CTL_SOCK_MAX_FDS ||
	    (max_fds && (!fds || !nfds)))
		return -EINVAL;
	ssize_t n;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Collect every fd the kernel installed, whatever the control message,
	 * so that none can leak whichever way this call ends. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (ngot < sizeof(got) / sizeof(got[0]))
				got[ngot++] = fd;
			else
				close(fd);
		}
	}
	if (ngot > max_fds)
		too_many = true;
	if (mh.msg_flags & MSG_TRUNC) {
		close_all(got, ngot);
		return -EMSGSIZE;
	}
	if ((mh.msg_flags & MSG_CTRUNC) || too_many) {
		close_all(got, ngot);
		return -EBADMSG;
	}
	if (n == 0) {
		/* peer closed (a zero-length datagram is never sent by shmq) */
		close_all(got, ngot);
		return 0;
	}
	if (ngot) {
		memcpy(fds, got, sizeof(int) * ngot);
		*nfds = ngot;
	}
	return n;
}

int shmq_ctl_sock_peercred(int sock, pid_t *pid, uid_t *uid, gid_t *gid)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &l) != 0)
		return -errno;
	if (l != sizeof(cr))
		return -EIO;
	if (pid)
		*pid = cr.pid;
	if (uid)
		*uid = cr.uid;
	if (gid)
		*gid = cr.gid;
	return 0;
}
