/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/arp.h
 * @brief The neighbour cache of the DPDK backend: IPv4 -> MAC, with
 *        resolution by ARP request and bounded retries, expiry, and static
 *        entries. Pure logic (no DPDK, no clock): the caller passes "now" and
 *        sends the ARP frames this cache asks for, so it is unit-tested alone.
 *
 * States of an entry:
 *   STATIC     configured; never expires, never replaced by ARP.
 *   INCOMPLETE no MAC yet; a request goes out every retry_ns, at most
 *              `retries` times, then the entry is removed (failed) and the
 *              caller drops what it queued for that address.
 *   REACHABLE  MAC known until expires (ttl_ns after it was learned).
 *   PROBING    expired REACHABLE: the old MAC is still used while requests
 *              refresh it; if they all fail, the entry is removed.
 * Learning (shmq_arp_learn): a request aimed at our address creates the
 * sender's entry if a slot is free (the sender is about to talk to us, as
 * Linux does; a flood of forged askers evicts nobody); a reply only updates
 * an entry we created; a known neighbour's MAC changes only through the
 * answer to our own request (INCOMPLETE, or PROBING once it aged), never by
 * what any sender on the link claims. The table is small and fixed
 * (SHMQ_ARP_SLOTS); when it is full our own lookup evicts the oldest
 * REACHABLE entry; a resolution in progress is never evicted.
 */
#ifndef SHMQ_DPDK_NET_ARP_H
#define SHMQ_DPDK_NET_ARP_H

#include <stdbool.h>
#include <stdint.h>

#define SHMQ_ARP_SLOTS 64u

enum shmq_arp_state { SHMQ_ARP_FREE = 0, SHMQ_ARP_STATIC, SHMQ_ARP_INCOMPLETE, SHMQ_ARP_REACHABLE,
		      SHMQ_ARP_PROBING };

/** What shmq_arp_lookup() tells the caller to do. */
enum shmq_arp_verdict {
	SHMQ_ARP_HIT = 0,       /**< @p mac filled: send */
	SHMQ_ARP_HIT_PROBE = 1, /**< @p mac filled: send, and send an ARP request too */
	SHMQ_ARP_WAIT = 2,      /**< resolution under way: queue or drop the packet */
	SHMQ_ARP_REQUEST = 3,   /**< new entry: queue the packet and send an ARP request */
};

struct shmq_arp_entry {
	uint32_t ip;            /**< network order */
	uint8_t mac[6];
	uint8_t state;          /**< enum shmq_arp_state */
	uint8_t tries;          /**< requests sent in this resolution */
	uint64_t expires_ns;    /**< REACHABLE: until; INCOMPLETE/PROBING: next request */
	uint64_t born_ns;       /**< for eviction */
};

struct shmq_arp_stats {
	uint64_t learned;       /**< entries (re)filled by ARP */
	uint64_t failed;        /**< resolutions given up */
	uint64_t evicted;
	uint64_t ignored;       /**< unsolicited replies, or replies about static entries */
};

struct shmq_arp {
	uint64_t ttl_ns;
	uint64_t retry_ns;
	unsigned retries;
	struct shmq_arp_entry e[SHMQ_ARP_SLOTS];
	struct shmq_arp_stats st;
};

/** @brief Start empty. 0 = defaults: ttl 60 s, retry 200 ms, 5 retries. */
void shmq_arp_init(struct shmq_arp *a, uint64_t ttl_ns, uint64_t retry_ns, unsigned retries);

/** @brief Add or replace a static neighbour. @return 0, -EINVAL (ip 0 or a
 *  multicast/broadcast MAC), -ENOSPC (every slot static). */
int shmq_arp_add_static(struct shmq_arp *a, uint32_t ip, const uint8_t mac[6]);

/**
 * @brief Where to send to @p ip at @p now.
 * @return an enum shmq_arp_verdict; -ENOSPC if no slot can be had (all static).
 *  REQUEST and HIT_PROBE count as the first request of their round.
 */
int shmq_arp_lookup(struct shmq_arp *a, uint32_t ip, uint64_t now, uint8_t mac[6]);

/**
 * @brief An ARP frame said @p ip is at @p mac.
 * @param create true for a request aimed at our address (create or update),
 *        false for a reply (update an existing non-static entry only).
 * @return 1 if the entry became usable now (INCOMPLETE -> REACHABLE: the
 *         caller flushes what it queued), 0 otherwise.
 */
int shmq_arp_learn(struct shmq_arp *a, uint32_t ip, const uint8_t mac[6], uint64_t now, bool create);

/** Callback of shmq_arp_tick(): send a request for @p ip, or (@p failed)
 *  drop what waits for it. */
typedef void (*shmq_arp_action_fn)(void *ctx, uint32_t ip, bool failed);

/**
 * @brief Run the timers: retries due, resolutions given up, REACHABLE entries
 *        turned PROBING when they expire (they are probed on next use only).
 * @return the earliest time a timer is due (UINT64_MAX if none).
 */
uint64_t shmq_arp_tick(struct shmq_arp *a, uint64_t now, shmq_arp_action_fn fn, void *ctx);

/** @brief The entry for @p ip, or NULL. */
const struct shmq_arp_entry *shmq_arp_find(const struct shmq_arp *a, uint32_t ip);

#endif
