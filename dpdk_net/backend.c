/* SPDX-License-Identifier: Apache-2.0 */
/* Backend helpers common to every transport: see dpdk_net/backend.h. */
#include <errno.h>
#include <stddef.h>

#include "dpdk_net/backend.h"

int shmq_net_send(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n)
{
	if (!be->loss)
		return be->ops->send(be, pkts, n);
	/* the hook drops before the transport sees a packet; survivors go out
	 * in the same order, in batches */
	struct shmq_net_pkt keep[64];
	unsigned k = 0, done = 0;
	for (unsigned i = 0; i < n; i++) {
		if (be->loss(be->loss_ctx, &pkts[i])) {
			be->st.tx_hook_dropped++;
			done++;
			continue;
		}
		keep[k++] = pkts[i];
		if (k == 64 || i + 1 == n) {
			int rc = be->ops->send(be, keep, k);
			if (rc < 0)
				return done ? (int)done : rc;
			done += (unsigned)rc;
			if ((unsigned)rc < k)
				return (int)done;
			k = 0;
		}
	}
	if (k) {
		int rc = be->ops->send(be, keep, k);
		if (rc < 0)
			return done ? (int)done : rc;
		done += (unsigned)rc;
	}
	return (int)done;
}

void shmq_net_backend_destroy(struct shmq_net_backend *be)
{
	if (be)
		be->ops->destroy(be);
}
