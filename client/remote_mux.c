/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's shared DPDK port and its virtual per-session backends
 * (client/remote_mux.h). One mutex (g.lock) guards everything: the real
 * backend (used by one thread at a time, backend.h), the list of virtual
 * ports and every virtual port's queue. Nothing here is touched without it,
 * so there are no atomics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote_mux.h"
#include "common/clock.h"
#include "dpdk_net/dpdk_backend.h"
#include "dpdk_net/frame_layout.h"

/* Local UDP ports handed to sessions; the real port's own address uses
 * PORT_BASE - 1, which no session owns. */
#define PORT_BASE 49152u
#define PORT_END 65535u

struct vport {
	struct shmq_net_backend be; /* first: the common head */
	struct vport *next;
	uint16_t port;              /* network order */
	uint32_t stride;            /* bytes per slot, 8-aligned */
	/* ring of SHMQ_RMUX_QUEUE slots: [first, first + n_held) were handed
	 * out by the last recv() (valid until the next one), [first + n_held,
	 * first + n) wait; a new datagram goes to first + n, dropped if n is
	 * SHMQ_RMUX_QUEUE */
	unsigned first, n, n_held;
	struct shmq_net_addr addr[SHMQ_RMUX_QUEUE];
	uint32_t len[SHMQ_RMUX_QUEUE];
	uint8_t *slots;
};

static struct {
	pthread_mutex_t lock;
	unsigned refs;
	struct shmq_net_backend *real;
	uint32_t ip;                /* network order */
	uint32_t next_port;         /* host order, PORT_BASE..PORT_END */
	struct vport *ports;
	struct shmq_rmux_stats st;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .next_port = PORT_BASE };

static void release_locked(void)
{
	if (--g.refs == 0) {
		shmq_net_backend_destroy(g.real);
		g.real = NULL;
		g.ip = 0;
	}
}

int shmq_rmux_acquire(const char *eal_args, const char *ip, uint32_t frame_max)
{
	struct in_addr a;
	if (!ip || inet_pton(AF_INET, ip, &a) != 1 || !a.s_addr || frame_max < SHMQ_NET_FRAME_MIN ||
	    frame_max > SHMQ_NET_FRAME_MAX - 28u)
		return -EINVAL;
	pthread_mutex_lock(&g.lock);
	int rc = 0;
	if (g.refs) {
		if (a.s_addr != g.ip)
			rc = -EINVAL; /* one port, one address per process */
	} else {
		struct shmq_net_addr local = { .ip = a.s_addr, .port = htons((uint16_t)(PORT_BASE - 1)) };
		/* the mbufs hold a whole MTU frame; 28 = IPv4 + UDP headers */
		SHMQ_NET_DPDK_OPTS(o, .eal_args = eal_args, .mtu = frame_max + 28u, .any_port = true);
		rc = shmq_net_dpdk_open(&local, &o, &g.real);
		if (rc == 0)
			g.ip = a.s_addr;
	}
	if (rc == 0)
		g.refs++;
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void shmq_rmux_release(void)
{
	pthread_mutex_lock(&g.lock);
	release_locked();
	pthread_mutex_unlock(&g.lock);
}

static struct vport *find_locked(uint16_t port)
{
	for (struct vport *v = g.ports; v; v = v->next)
		if (v->port == port)
			return v;
	return NULL;
}

/* One poll of the real port: every datagram copied into its owner's queue. */
static void poll_locked(void)
{
	struct shmq_net_pkt pk[SHMQ_NET_DPDK_BURST];
	g.st.polls++;
	int k = shmq_net_recv(g.real, pk, SHMQ_NET_DPDK_BURST, 0);
	for (int i = 0; i < k; i++) {
		struct vport *v = find_locked(pk[i].addr.reserved);
		if (!v) {
			g.st.no_port++;
			continue;
		}
		if (v->n == SHMQ_RMUX_QUEUE || pk[i].len > v->be.frame_max) {
			g.st.queue_full++;
			continue;
		}
		unsigned s = (v->first + v->n++) % SHMQ_RMUX_QUEUE;
		v->addr[s] = pk[i].addr;
		v->addr[s].reserved = 0; /* backend.h: 0 above the mux */
		v->len[s] = pk[i].len;
		memcpy(v->slots + (size_t)s * v->stride, pk[i].data, pk[i].len);
		g.st.dispatched++;
	}
}

/* Hand out up to @p n queued datagrams (the previous ones are released). */
static unsigned take_locked(struct vport *v, struct shmq_net_pkt *pkts, unsigned n)
{
	v->first = (v->first + v->n_held) % SHMQ_RMUX_QUEUE;
	v->n -= v->n_held;
	v->n_held = 0;
	unsigned k = v->n < n ? v->n : n;
	for (unsigned i = 0; i < k; i++) {
		unsigned s = (v->first + i) % SHMQ_RMUX_QUEUE;
		pkts[i] = (struct shmq_net_pkt){ .addr = v->addr[s], .len = v->len[s],
						 .data = v->slots + (size_t)s * v->stride };
	}
	v->n_held = k;
	return k;
}

static int vport_recv(struct shmq_net_backend *be, struct shmq_net_pkt *pkts, unsigned n, uint64_t timeout_ns)
{
	struct vport *v = (struct vport *)be;
	uint64_t start = shmq_now_ns(), idle_since = start;
	for (;;) {
		pthread_mutex_lock(&g.lock);
		unsigned k = take_locked(v, pkts, n);
		if (!k && n) {
			uint64_t before = g.st.dispatched;
			poll_locked();
			if (g.st.dispatched != before)
				idle_since = shmq_now_ns(); /* the port is busy: keep polling hard */
			k = take_locked(v, pkts, n);
		}
		pthread_mutex_unlock(&g.lock);
		if (k) {
			be->st.rx_frames += k;
			return (int)k;
		}
		uint64_t now = shmq_now_ns();
		if (now - start >= timeout_ns)
			return 0;
		shmq_net_dpdk_idle(now - idle_since, timeout_ns - (now - start));
	}
}

static int vport_send(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n)
{
	struct vport *v = (struct vport *)be;
	struct shmq_net_pkt out[SHMQ_NET_DPDK_BURST];
	unsigned done = 0;
	pthread_mutex_lock(&g.lock);
	while (done < n) {
		unsigned k = n - done < SHMQ_NET_DPDK_BURST ? n - done : SHMQ_NET_DPDK_BURST;
		for (unsigned i = 0; i < k; i++) {
			out[i] = pkts[done + i];
			out[i].addr.reserved = v->port; /* our source port (dpdk_backend.h any_port) */
		}
		int rc = shmq_net_send(g.real, out, k);
		if (rc < 0) {
			pthread_mutex_unlock(&g.lock);
			return done ? (int)done : rc;
		}
		done += (unsigned)rc;
		if ((unsigned)rc < k)
			break;
	}
	pthread_mutex_unlock(&g.lock);
	be->st.tx_frames += done;
	return (int)done;
}

static void vport_destroy(struct shmq_net_backend *be)
{
	struct vport *v = (struct vport *)be;
	pthread_mutex_lock(&g.lock);
	for (struct vport **p = &g.ports; *p; p = &(*p)->next)
		if (*p == v) {
			*p = v->next;
			break;
		}
	g.st.ports--;
	release_locked();
	pthread_mutex_unlock(&g.lock);
	free(v->slots);
	free(v);
}

static const struct shmq_net_backend_ops vport_ops = {
	.name = "dpdk-mux",
	.send = vport_send,
	.recv = vport_recv,
	.destroy = vport_destroy,
};

int shmq_rmux_open(uint32_t frame_max, struct shmq_net_backend **out)
{
	*out = NULL;
	struct vport *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&g.lock);
	int rc = 0;
	if (!g.refs) {
		rc = -ENODEV;
		goto out;
	}
	v->be.ops = &vport_ops;
	v->be.frame_max = frame_max < g.real->frame_max ? frame_max : g.real->frame_max;
	v->stride = (v->be.frame_max + 7u) & ~7u;
	v->slots = aligned_alloc(8, (size_t)v->stride * SHMQ_RMUX_QUEUE);
	if (!v->slots) {
		rc = -ENOMEM;
		goto out;
	}
	/* a fresh port: one not in use, searched from where the last one was
	 * taken so a closed session's port is not reused at once (its peer may
	 * still resend to it) */
	rc = -EADDRINUSE;
	for (unsigned tries = 0; tries <= PORT_END - PORT_BASE; tries++) {
		uint16_t p = htons((uint16_t)g.next_port);
		g.next_port = g.next_port == PORT_END ? PORT_BASE : g.next_port + 1;
		if (!find_locked(p)) {
			v->port = p;
			rc = 0;
			break;
		}
	}
	if (rc < 0)
		goto out;
	v->be.local = (struct shmq_net_addr){ .ip = g.ip, .port = v->port };
	v->next = g.ports;
	g.ports = v;
	g.st.ports++;
	g.refs++;
out:
	pthread_mutex_unlock(&g.lock);
	if (rc < 0) {
		free(v->slots);
		free(v);
		return rc;
	}
	*out = &v->be;
	return 0;
}

void shmq_rmux_stats(struct shmq_rmux_stats *st)
{
	pthread_mutex_lock(&g.lock);
	*st = g.st;
	pthread_mutex_unlock(&g.lock);
}
