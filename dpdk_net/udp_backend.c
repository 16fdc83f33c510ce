/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel UDP backend: see dpdk_net/udp_backend.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dpdk_net/frame_layout.h"
#include "dpdk_net/udp_backend.h"

struct udp_be {
	struct shmq_net_backend be; /* first: the common head */
	int fd;
	uint8_t *rx_bufs;           /* SHMQ_NET_UDP_BATCH x stride */
	size_t stride;
};

int shmq_net_udp_parse(const char *url, struct shmq_net_addr *out)
{
	static const char scheme[] = "udp://";
	char host[256];
	if (!url || !out || strncmp(url, scheme, sizeof(scheme) - 1) != 0)
		return -EINVAL;
	const char *h = url + sizeof(scheme) - 1;
	const char *colon = strrchr(h, ':');
	if (!colon || colon == h || (size_t)(colon - h) >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, (size_t)(colon - h));
	host[colon - h] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno || *end != '\0' || end == colon + 1 || port > 65535)
		return -EINVAL;
	struct in_addr ia;
	if (inet_pton(AF_INET, host, &ia) != 1) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM }, *res;
		if (getaddrinfo(host, NULL, &hints, &res) != 0)
			return -EHOSTUNREACH;
		ia = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	*out = (struct shmq_net_addr){ .ip = ia.s_addr, .port = htons((uint16_t)port) };
	return 0;
}

static void to_sin(const struct shmq_net_addr *a, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = a->ip;
	sin->sin_port = a->port;
}

/* Wait for the socket to be readable/writable: -errno, 0 timeout, 1 ready. */
static int wait_fd(int fd, short events, uint64_t timeout_ns)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec ts = { .tv_sec = (time_t)(timeout_ns / 1000000000ull),
			       .tv_nsec = (long)(timeout_ns % 1000000000ull) };
	int rc = ppoll(&p, 1, &ts, NULL);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc > 0;
}

static int udp_send(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n)
{
	struct udp_be *u = (struct udp_be *)be;
	struct mmsghdr msgs[SHMQ_NET_UDP_BATCH];
	struct iovec iov[SHMQ_NET_UDP_BATCH];
	struct sockaddr_in sin[SHMQ_NET_UDP_BATCH];
	unsigned done = 0;
	int full_waits = 0;
	while (done < n) {
		unsigned k = n - done < SHMQ_NET_UDP_BATCH ? n - done : SHMQ_NET_UDP_BATCH;
		for (unsigned i = 0; i < k; i++) {
			const struct shmq_net_pkt *p = &pkts[done + i];
			to_sin(&p->addr, &sin[i]);
			iov[i] = (struct iovec){ .iov_base = p->data, .iov_len = p->len };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &sin[i], .msg_namelen = sizeof(sin[i]),
								 .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int rc = sendmmsg(u->fd, msgs, k, 0);
		if (rc > 0) {
			done += (unsigned)rc;
			be->st.tx_frames += (uint64_t)rc;
			full_waits = 0;
			continue;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 && (errno == EAGAIN || errno == ENOBUFS) && full_waits < 100) {
			/* socket buffer full: wait for room (bounded: ~1 s in all) */
			full_waits++;
			if (wait_fd(u->fd, POLLOUT, 10000000ull) < 0)
				return done ? (int)done : -errno;
			continue;
		}
		/* this datagram is refused (e.g. oversize, unreachable): count, skip
		 * it, as a lossy link would */
		be->st.tx_errors++;
		done++;
	}
	return (int)done;
}

static int udp_recv(struct shmq_net_backend *be, struct shmq_net_pkt *pkts, unsigned n, uint64_t timeout_ns)
{
	struct udp_be *u = (struct udp_be *)be;
	struct mmsghdr msgs[SHMQ_NET_UDP_BATCH];
	struct iovec iov[SHMQ_NET_UDP_BATCH];
	struct sockaddr_in sin[SHMQ_NET_UDP_BATCH];
	if (n > SHMQ_NET_UDP_BATCH)
		n = SHMQ_NET_UDP_BATCH;
	for (int tries = 0; tries < 2; tries++) {
		for (unsigned i = 0; i < n; i++) {
			iov[i] = (struct iovec){ .iov_base = u->rx_bufs + i * u->stride, .iov_len = be->frame_max };
			msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &sin[i], .msg_namelen = sizeof(sin[i]),
								 .msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int rc = recvmmsg(u->fd, msgs, n, MSG_DONTWAIT, NULL);
		if (rc > 0) {
			unsigned out = 0;
			for (int i = 0; i < rc; i++) {
				if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
					be->st.rx_oversize++;
					continue;
				}
				pkts[out] = (struct shmq_net_pkt){
					.addr = { .ip = sin[i].sin_addr.s_addr, .port = sin[i].sin_port },
					.len = msgs[i].msg_len,
					.data = u->rx_bufs + (size_t)i * u->stride,
				};
				out++;
			}
			be->st.rx_frames += out;
			return (int)out;
		}
		if (rc < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (tries == 0 && timeout_ns) {
			int w = wait_fd(u->fd, POLLIN, timeout_ns);
			if (w <= 0)
				return w;
		}
	}
	return 0;
}

static void udp_destroy(struct shmq_net_backend *be)
{
	struct udp_be *u = (struct udp_be *)be;
	close(u->fd);
	free(u->rx_bufs);
	free(u);
}

static const struct shmq_net_backend_ops udp_ops = {
	.name = "udp",
	.send = udp_send,
	.recv = udp_recv,
	.destroy = udp_destroy,
};

int shmq_net_udp_open(const char *bind_url, const struct shmq_net_udp_opts *opts,
		      struct shmq_net_backend **out)
{
	struct shmq_net_udp_opts o = { .sz = sizeof(o) };
	struct shmq_net_addr local;
	if (!out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.frame_max)
		o.frame_max = 1472;
	if (!o.sock_buf)
		o.sock_buf = 4 << 20;
	if (o.frame_max < SHMQ_NET_FRAME_MIN || o.frame_max > SHMQ_NET_FRAME_MAX || o.sock_buf < 0)
		return -EINVAL;
	int rc = shmq_net_udp_parse(bind_url, &local);
	if (rc < 0)
		return rc;
	struct udp_be *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	/* +1 so a datagram longer than frame_max shows up as MSG_TRUNC */
	u->stride = ((size_t)o.frame_max + 1 + 63) & ~(size_t)63;
	u->rx_bufs = aligned_alloc(64, u->stride * SHMQ_NET_UDP_BATCH);
	u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!u->rx_bufs || u->fd < 0) {
		rc = u->fd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	/* best effort: *FORCE needs CAP_NET_ADMIN; without it the kernel caps
	 * the plain options at net.core.rmem_max / wmem_max. A burst of
	 * fragments beyond the buffer is lost and resent like any loss. */
	if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &o.sock_buf, sizeof(o.sock_buf)) < 0)
		setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &o.sock_buf, sizeof(o.sock_buf));
	if (setsockopt(u->fd, SOL_SOCKET, SO_SNDBUFFORCE, &o.sock_buf, sizeof(o.sock_buf)) < 0)
		setsockopt(u->fd, SOL_SOCKET, SO_SNDBUF, &o.sock_buf, sizeof(o.sock_buf));
	struct sockaddr_in sin;
	to_sin(&local, &sin);
	if (bind(u->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		rc = -errno;
		goto fail;
	}
	socklen_t sl = sizeof(sin);
	if (getsockname(u->fd, (struct sockaddr *)&sin, &sl) < 0) {
		rc = -errno;
		goto fail;
	}
	u->be.ops = &udp_ops;
	u->be.frame_max = o.frame_max;
	u->be.local = (struct shmq_net_addr){ .ip = sin.sin_addr.s_addr, .port = sin.sin_port };
	*out = &u->be;
	return 0;
fail:
	if (u->fd >= 0)
		close(u->fd);
	free(u->rx_bufs);
	free(u);
	return rc;
}
