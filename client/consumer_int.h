/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consumer handle's internals, shared by client/consumer.c (public API:
 * poll, commit, push thread, close) and client/consumer_group.c (group
 * membership: join, rebalance, release, reconnect). Never installed.
 *
 * Locking: every field below is guarded by `mu`. A pull consumer takes it
 * for each call (uncontended: one thread polls); a push consumer's thread
 * holds it except while it sleeps or runs the application's callback, so
 * shmq_consumer_stats()/_assignment() may be called from other threads.
 */
#ifndef SHMQ_CLIENT_CONSUMER_INT_H
#define SHMQ_CLIENT_CONSUMER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client_int.h"
#include "client/consumer_buf.h"
#include "client/consumer_queue.h"
#include "common/offsets.h"

/* One queue of the topic, as this member sees it. */
struct shmq_cons_queue {
	shmq_ring_t *ring;         /* attached on first assignment; NULL until then */
	struct shmq_qcursor cur;
	bool owned;                /* in this member's assignment */
	bool positioned;           /* cur has a start position */
	bool dirty;                /* delivered moved since the last commit */
	bool resume;               /* broadcasting re-join: restart at delivered */
	uint32_t reset_seq;        /* slot.reset_seq when positioned */
	uint64_t delivered;        /* queue offset after the last message handed out */
	uint64_t committed;        /* last value this member committed; NONE = none */
	uint64_t retry_at_ns;      /* push: redeliver not before */
	uint64_t blocked_round;    /* push: batch in which a message of it failed */
	uint64_t ring_retry_ns;    /* OPEN_QUEUE failed: try again not before */
	uint64_t probe_delivered;  /* deliver_batch probe's count (ebpf/probes.h) */
};

struct shmq_consumer {
	shmq_client_t *cl;
	struct shmq_consumer_opts o;   /* a copy; group/topic point at the arrays below */
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t ctl_mode;             /* enum shmq_ctl_group_mode */
	shmq_logreader_t *lr;
	struct shmq_logsrc logsrc;
	uint32_t broker_id;

	/* membership (consumer_group.c) */
	struct shmq_offsets_map tab;   /* tab.hdr NULL: not joined (or broadcasting without one) */
	bool joined;
	uint64_t member;               /* our owner word value (session id) */
	uint32_t gen_seen;             /* generation our assignment reflects */
	uint32_t epoch;                /* shmq_cli_epoch() when we joined */
	uint64_t next_alive_ns;        /* next liveness check */
	uint64_t next_join_ns;         /* a failed re-join is retried then */
	uint64_t next_sync_ns;         /* a failed GROUP_SYNC is retried then */

	uint32_t nq;
	struct shmq_cons_queue *q;

	/* delivery */
	struct shmq_cbuf buf;
	struct shmq_ring_msg *scratch; /* SHMQ_RING_BATCH_MAX */
	struct shmq_qc_msg *dl;        /* the last poll's deliveries */
	unsigned dl_cap, dl_n;
	unsigned rr;                   /* round-robin start queue */

	struct shmq_consumer_stats st; /* cursor counters are summed in at read time */
	uint64_t corrupt;              /* messages skipped as invalid (all queues) */

	pthread_mutex_t mu;
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;             /* close -> push thread */
	struct shmq_rconsumer *remote; /* non-NULL: a remote broker's consumer (client/remote.h); nothing above is used */
};

/* consumer_group.c; all called with mu held. */
int shmq_cons_join(struct shmq_consumer *cs);
/* Liveness, reconnect (re-join), and a changed generation (rebalance). */
void shmq_cons_maintain(struct shmq_consumer *cs);
/* Give the queue a start position (attaching its ring first). 0 or an error. */
int shmq_cons_position(struct shmq_consumer *cs, uint32_t qi);
/* May this member deliver queue qi now (owner word is us, no revoke)? */
bool shmq_cons_deliverable(struct shmq_consumer *cs, uint32_t qi);
/* Store @p next as the queue's committed offset (clustering: into the table). */
void shmq_cons_commit_queue(struct shmq_consumer *cs, uint32_t qi, uint64_t next);
/* What the current commit policy says is consumed: auto -> delivered. */
void shmq_cons_commit_delivered(struct shmq_consumer *cs, uint32_t qi);
/* GROUP_LEAVE, unmap, drop rings. */
void shmq_cons_leave(struct shmq_consumer *cs);

#endif
