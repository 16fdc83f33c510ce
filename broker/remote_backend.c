/* SPDX-License-Identifier: Apache-2.0 */
/* The remote port's backend factory; see broker/remote_backend.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker/remote_backend.h"
#include "common/errbuf.h"
#include "dpdk_net/dpdk_backend.h"
#include "dpdk_net/udp_backend.h"

/* "dpdk://HOST:PORT" (and dpdk_ip, if set, for the address): the same
 * syntax as udp://, so the same parser. */
static int dpdk_addr(const struct shmq_remote_backend_opts *o, struct shmq_net_addr *a, char *err,
		     size_t errlen)
{
	char url[300];
	if (snprintf(url, sizeof(url), "udp://%s", o->listen + 7) >= (int)sizeof(url))
		return -EINVAL;
	int rc = shmq_net_udp_parse(url, a);
	if (rc == 0 && o->dpdk_ip && o->dpdk_ip[0]) {
		struct shmq_net_addr ip;
		if (snprintf(url, sizeof(url), "udp://%s:1", o->dpdk_ip) >= (int)sizeof(url))
			return -EINVAL;
		rc = shmq_net_udp_parse(url, &ip);
		if (rc == 0)
			a->ip = ip.ip;
		else
			shmq_errbuf_set(err, errlen, "net.dpdk_ip '%s': not an IPv4 address", o->dpdk_ip);
		return rc;
	}
	if (rc == 0 && a->port == 0)
		rc = -EINVAL; /* a DPDK port serves one fixed UDP port */
	if (rc < 0)
		shmq_errbuf_set(err, errlen, "net.listen '%s': expected dpdk://IPv4:PORT (PORT > 0)", o->listen);
	return rc;
}

int shmq_remote_backend_open(const struct shmq_remote_backend_opts *o, struct shmq_net_backend **out,
			     char *err, size_t errlen)
{
	if (!o || !o->listen || !out)
		return -EINVAL;
	int rc;
	if (strncmp(o->listen, "udp://", 6) == 0) {
		SHMQ_NET_UDP_OPTS(uo);
		rc = shmq_net_udp_open(o->listen, &uo, out);
		if (rc < 0)
			shmq_errbuf_set(err, errlen, "net.listen %s: %s", o->listen, strerror(-rc));
		return rc;
	}
	if (strncmp(o->listen, "dpdk://", 7) == 0) {
		struct shmq_net_addr a;
		rc = dpdk_addr(o, &a, err, errlen);
		if (rc < 0)
			return rc;
		SHMQ_NET_DPDK_OPTS(dopts, .eal_args = o->dpdk_args && o->dpdk_args[0] ? o->dpdk_args : NULL);
		rc = shmq_net_dpdk_open(&a, &dopts, out);
		if (rc < 0)
			shmq_errbuf_set(err, errlen, "net.listen %s (DPDK, EAL args '%s'): %s", o->listen,
					o->dpdk_args ? o->dpdk_args : "", strerror(-rc));
		return rc;
	}
	shmq_errbuf_set(err, errlen, "net.listen '%s': neither udp:// nor dpdk://", o->listen);
	return -EINVAL;
}
