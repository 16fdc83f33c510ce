/* SPDX-License-Identifier: Apache-2.0 */
/* Private to broker/store: the store object shared by store.c, recovery.c
 * and retention.c. */
#ifndef SHMQ_BROKER_STORE_STORE_INT_H
#define SHMQ_BROKER_STORE_STORE_INT_H

#include <limits.h>
#include <pthread.h>

#include "broker/store/checkpoint.h"
#include "broker/store/commitlog.h"
#include "broker/store/consumequeue.h"
#include "broker/store/flush.h"
#include "broker/store/index.h"
#include "broker/store/store.h"

#define SHMQ_STORE_QBUCKETS 1024u

/* One (topic, queue): its consumequeue. Never freed before close. */
struct shmq_store_queue {
	struct shmq_store_queue *next;   /* bucket chain */
	struct shmq_store_queue *all;    /* list of every queue */
	uint32_t queue_id;
	uint32_t topic_len;
	char topic[SHMQ_CL_TOPIC_MAX + 1];
	shmq_cq_t *cq;
};

struct shmq_store {
	struct shmq_store_opts o;
	char dir[PATH_MAX];
	int lock_fd;
	shmq_cl_t *cl;
	shmq_index_t *ix;
	shmq_ckpt_t *ck;
	struct shmq_ckpt_state ck_state;   /* flusher thread only (after open) */
	uint64_t last_ckpt_ns;             /* flusher thread only */
	shmq_flusher_t fl;
	bool flusher_running;

	pthread_rwlock_t qlock;            /* guards buckets and the all-list */
	struct shmq_store_queue *buckets[SHMQ_STORE_QBUCKETS];
	struct shmq_store_queue *queues;

	/* every record below it has been dispatched to the consumequeue/index */
	_Atomic uint64_t dispatched;
	_Atomic uint64_t last_store_ts;
	char *keybuf;                      /* appender scratch: "topic#key" */

	struct shmq_store_recovery_report report;
	_Atomic uint64_t n_records, n_bytes, n_ckpt, n_enospc, n_index_err;
};

/* Look a queue up; create (open its consumequeue) when @p create. */
int shmq_store_queue_get(struct shmq_store *s, const char *topic, size_t tlen, uint32_t qid,
			 bool create, struct shmq_store_queue **out);
/* Index every key of @p v ("topic#key"). Returns puts done or -errno. */
int shmq_store_index_keys(struct shmq_store *s, const struct shmq_store_view *v);

/* recovery.c: scan, truncate, rebuild; fills s->report. */
int shmq_store_recover(struct shmq_store *s, const struct shmq_ckpt_state *ck, bool have_ck);

#endif
