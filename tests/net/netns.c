/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/net/netns.h"

int net_run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc;
}

int net_ns_pair_create(struct net_ns_pair *p, const char *tag, unsigned id, const char *cidr_a,
		       const char *cidr_b)
{
	const char *cidr[2] = { cidr_a, cidr_b };

	memset(p, 0, sizeof(*p));
	id %= 100000u; /* interface names stay below IFNAMSIZ */
	snprintf(p->ns[0], sizeof(p->ns[0]), "%.12sa%u", tag, id);
	snprintf(p->ns[1], sizeof(p->ns[1]), "%.12sb%u", tag, id);
	snprintf(p->veth[0], sizeof(p->veth[0]), "%.4sa%u", tag, id);
	snprintf(p->veth[1], sizeof(p->veth[1]), "%.4sb%u", tag, id);
	p->made = true; /* from here on, destroy() deletes whatever exists */
	if (net_run("ip netns add %s", p->ns[0]) != 0 || net_run("ip netns add %s", p->ns[1]) != 0 ||
	    net_run("ip link add %s netns %s type veth peer name %s netns %s", p->veth[0], p->ns[0],
		    p->veth[1], p->ns[1]) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (net_run("ip -n %s link set %s up", p->ns[i], p->veth[i]) != 0 ||
		    net_run("ip -n %s link set lo up", p->ns[i]) != 0)
			return -1;
		net_run("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1", p->ns[i]);
		if (cidr[i] && net_run("ip -n %s addr add %s dev %s", p->ns[i], cidr[i], p->veth[i]) != 0)
			return -1;
	}
	return 0;
}

void net_ns_pair_destroy(struct net_ns_pair *p)
{
	if (!p->made)
		return;
	/* deleting a namespace destroys its veth end, and with it the peer */
	net_run("ip netns del %s 2>/dev/null", p->ns[0]);
	net_run("ip netns del %s 2>/dev/null", p->ns[1]);
	p->made = false;
}

int net_ns_enter(const char *ns)
{
	char path[96];
	int fd, rc;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = setns(fd, CLONE_NEWNET) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}
