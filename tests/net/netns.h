/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two network namespaces joined by a veth pair, made and removed by a test
 * (or a benchmark) itself: the only links the DPDK tests touch. Needs root.
 */
#ifndef SHMQ_TESTS_NET_NETNS_H
#define SHMQ_TESTS_NET_NETNS_H

#include <stdbool.h>

struct net_ns_pair {
	char ns[2][32];     /* "<tag>a<id>", "<tag>b<id>" */
	char veth[2][16];   /* the end in ns[0], the end in ns[1] (interface names) */
	bool made;          /* something may exist: destroy() removes it */
};

/* system() of a formatted command; 0 or its non-zero status (printed). */
int net_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Create ns[0] and ns[1] named from @p tag (<= 12 characters) and @p id, the
 * veth pair between them (up, IPv6 off so no chatter reaches a DPDK port),
 * loopback up in both, and the addresses @p cidr_a / @p cidr_b (e.g.
 * "10.77.0.2/24") on the ends when not NULL. 0, or -1 after printing the
 * failing command (destroy() cleans up what exists).
 */
int net_ns_pair_create(struct net_ns_pair *p, const char *tag, unsigned id, const char *cidr_a,
		       const char *cidr_b);

/* Delete both namespaces (their veth ends go with them). Idempotent. */
void net_ns_pair_destroy(struct net_ns_pair *p);

/* Move the calling thread into namespace @p ns. 0 or -errno. */
int net_ns_enter(const char *ns);

#endif
