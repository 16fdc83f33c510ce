/* SPDX-License-Identifier: Apache-2.0 */
/* Neighbour cache: see dpdk_net/arp.h. */
#include <errno.h>
#include <string.h>

#include "dpdk_net/arp.h"

void shmq_arp_init(struct shmq_arp *a, uint64_t ttl_ns, uint64_t retry_ns, unsigned retries)
{
	memset(a, 0, sizeof(*a));
	a->ttl_ns = ttl_ns ? ttl_ns : 60000000000ull;
	a->retry_ns = retry_ns ? retry_ns : 200000000ull;
	a->retries = retries ? retries : 5;
	if (a->retries > 255)
		a->retries = 255;
}

static bool mac_unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];
	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

static struct shmq_arp_entry *find(struct shmq_arp *a, uint32_t ip)
{
	for (unsigned i = 0; i < SHMQ_ARP_SLOTS; i++)
		if (a->e[i].state != SHMQ_ARP_FREE && a->e[i].ip == ip)
			return &a->e[i];
	return NULL;
}

const struct shmq_arp_entry *shmq_arp_find(const struct shmq_arp *a, uint32_t ip)
{
	return find((struct shmq_arp *)a, ip);
}

/* A free slot, else (if @p evict) the oldest REACHABLE one, else NULL. A
 * resolution in progress (INCOMPLETE, PROBING) is never evicted: a flood of
 * forged ARP senders would otherwise drop the real peer's answer on the
 * floor, again and again. */
static struct shmq_arp_entry *take_slot(struct shmq_arp *a, bool evict)
{
	struct shmq_arp_entry *old = NULL;
	for (unsigned i = 0; i < SHMQ_ARP_SLOTS; i++) {
		struct shmq_arp_entry *e = &a->e[i];
		if (e->state == SHMQ_ARP_FREE)
			return e;
		if (e->state == SHMQ_ARP_REACHABLE && (!old || e->born_ns < old->born_ns))
			old = e;
	}
	if (!evict)
		return NULL;
	if (old)
		a->st.evicted++;
	return old;
}

int shmq_arp_add_static(struct shmq_arp *a, uint32_t ip, const uint8_t mac[6])
{
	if (!ip || !mac_unicast(mac))
		return -EINVAL;
	struct shmq_arp_entry *e = find(a, ip);
	if (!e)
		e = take_slot(a, true);
	if (!e)
		return -ENOSPC;
	*e = (struct shmq_arp_entry){ .ip = ip, .state = SHMQ_ARP_STATIC };
	memcpy(e->mac, mac, 6);
	return 0;
}

int shmq_arp_lookup(struct shmq_arp *a, uint32_t ip, uint64_t now, uint8_t mac[6])
{
	struct shmq_arp_entry *e = find(a, ip);
	if (!e) {
		e = take_slot(a, true);
		if (!e)
			return -ENOSPC;
		*e = (struct shmq_arp_entry){ .ip = ip, .state = SHMQ_ARP_INCOMPLETE, .tries = 1,
					      .expires_ns = now + a->retry_ns, .born_ns = now };
		return SHMQ_ARP_REQUEST;
	}
	switch (e->state) {
	case SHMQ_ARP_INCOMPLETE:
		return SHMQ_ARP_WAIT;
	case SHMQ_ARP_REACHABLE:
		if (now >= e->expires_ns) {
			/* keep using the old MAC while we ask again */
			e->state = SHMQ_ARP_PROBING;
			e->tries = 1;
			e->expires_ns = now + a->retry_ns;
			memcpy(mac, e->mac, 6);
			return SHMQ_ARP_HIT_PROBE;
		}
		break;
	default: /* STATIC, PROBING */
		break;
	}
	memcpy(mac, e->mac, 6);
	return SHMQ_ARP_HIT;
}

int shmq_arp_learn(struct shmq_arp *a, uint32_t ip, const uint8_t mac[6], uint64_t now, bool create)
{
	if (!ip || !mac_unicast(mac)) {
		a->st.ignored++;
		return 0;
	}
	struct shmq_arp_entry *e = find(a, ip);
	if (e && e->state == SHMQ_ARP_STATIC) {
		a->st.ignored++;
		return 0;
	}
	if (!e) {
		/* an asker is learned only into a free slot: it evicts nobody */
		e = create ? take_slot(a, false) : NULL;
		if (!e) {
			a->st.ignored++;
			return 0;
		}
		*e = (struct shmq_arp_entry){ .ip = ip, .state = SHMQ_ARP_FREE, .born_ns = now };
	} else if (e->state == SHMQ_ARP_REACHABLE && memcmp(e->mac, mac, 6) != 0) {
		/* a new MAC for a known neighbour is believed only as the answer
		 * to our own question (INCOMPLETE, or PROBING once the entry
		 * aged): any sender on the link could claim it otherwise */
		a->st.ignored++;
		return 0;
	}
	bool was_waiting = e->state == SHMQ_ARP_INCOMPLETE;
	memcpy(e->mac, mac, 6);
	e->ip = ip;
	e->state = SHMQ_ARP_REACHABLE;
	e->tries = 0;
	e->expires_ns = now + a->ttl_ns;
	a->st.learned++;
	return was_waiting;
}

uint64_t shmq_arp_tick(struct shmq_arp *a, uint64_t now, shmq_arp_action_fn fn, void *ctx)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < SHMQ_ARP_SLOTS; i++) {
		struct shmq_arp_entry *e = &a->e[i];
		if (e->state != SHMQ_ARP_INCOMPLETE && e->state != SHMQ_ARP_PROBING)
			continue;
		if (now >= e->expires_ns) {
			if (e->tries >= a->retries) {
				uint32_t ip = e->ip;
				e->state = SHMQ_ARP_FREE;
				a->st.failed++;
				fn(ctx, ip, true);
				continue;
			}
			e->tries++;
			e->expires_ns = now + a->retry_ns;
			fn(ctx, e->ip, false);
		}
		if (e->expires_ns < next)
			next = e->expires_ns;
	}
	return next;
}
