/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file common/ctl_sock.h
 * @brief One control message over a unix SOCK_SEQPACKET socket, with
 *        optional file descriptors (SCM_RIGHTS), and the peer's credentials.
 *
 * SOCK_SEQPACKET keeps message boundaries and reports a closed peer as a
 * zero-length read, which is how the broker sees a client die. Received fds
 * are always close-on-exec (MSG_CMSG_CLOEXEC). A receive never leaks an fd:
 * fds beyond what the caller asked for, fds that arrive with a truncated
 * message, and fds of any other control message type are closed before the
 * call returns. Blocking behaviour is the socket's (use SOCK_NONBLOCK or
 * MSG_DONTWAIT through @p flags for non-blocking use).
 */
#ifndef SHMQ_COMMON_CTL_SOCK_H
#define SHMQ_COMMON_CTL_SOCK_H

#include <stddef.h>
#include <sys/types.h>

/** Most fds one message may carry. */
#define SHMQ_CTL_SOCK_MAX_FDS 4

/**
 * @brief Send one message, with @p nfds fds (0..SHMQ_CTL_SOCK_MAX_FDS).
 * @param flags extra send flags; MSG_NOSIGNAL is always added.
 * @return 0; -EINVAL for bad arguments; -EAGAIN; -EPIPE when the peer is
 *         gone; -EMSGSIZE; other -errno from sendmsg. A short send cannot
 *         happen on SOCK_SEQPACKET; it is reported as -EIO if it does.
 */
int shmq_ctl_sock_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds,
		       int flags);

/**
 * @brief Receive one message and up to @p max_fds fds.
 * @param fds out: received fds (owned by the caller), *nfds set to their
 *        count; may be NULL when @p max_fds is 0.
 * @param flags extra recvmsg flags (e.g. MSG_DONTWAIT).
 * @return the message length (> 0); 0 when the peer closed the connection;
 *         -EMSGSIZE if the message was longer than @p cap (MSG_TRUNC);
 *         -EBADMSG if more fds arrived than the kernel could deliver
 *         (MSG_CTRUNC) or than @p max_fds; -EAGAIN; other -errno. On every
 *         error *nfds is 0 and no received fd stays open.
 */
ssize_t shmq_ctl_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned max_fds,
			   unsigned *nfds, int flags);

/**
 * @brief The connected peer's pid/uid/gid as the kernel recorded them at
 *        connect() (SO_PEERCRED): the only identity the broker trusts.
 * @return 0 or -errno.
 */
int shmq_ctl_sock_peercred(int sock, pid_t *pid, uid_t *uid, gid_t *gid);

#endif
