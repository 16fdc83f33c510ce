/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A consumer's group membership: GROUP_JOIN (offset table, first assignment),
 * rebalances announced through the table's generation word (revoke ->
 * commit -> QUEUE_RELEASE; GROUP_SYNC for the new assignment; resets), start
 * positions, reconnects. The protocol is the issue-4 group spec, summarised:
 *
 *  - R1 exclusive delivery: a clustering member delivers queue q only while
 *    slot[q].owner == its member id and slot[q].revoke_gen == 0, checked
 *    (acquire) before every fetch of q. The broker hands q to another member
 *    only after our QUEUE_RELEASE (or our death / the revoke timeout), and we
 *    send it only after we stopped delivering q and committed it.
 *  - R2 start: a newly owned queue starts at slot.committed, or, when the
 *    group never committed it, at the consumer's start option (COMMITTED
 *    means LATEST then). A changed slot.reset_seq restarts it at
 *    slot.committed (GROUP_RESET).
 *  - R3 a queue that leaves the assignment without a revoke (the broker gave
 *    it away: we were too slow or it thought us dead) is dropped without a
 *    commit: the new owner's offsets must not be overwritten.
 *  - R4 broadcasting: every queue, offsets kept in memory only (the table's
 *    words are not used); START_COMMITTED means LATEST.
 *  - R5 reconnect: a changed client epoch means a new session (a new member
 *    id): we re-join, re-attach every ring (the broker may hand new files)
 *    and continue from the committed offsets (broadcasting: from our own).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/consumer_int.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "ebpf/probes.h"

/* Retry a failed re-join or OPEN_QUEUE at most this often. */
#define REJOIN_RETRY_NS 100000000ull

static bool clustering(const struct shmq_consumer *cs)
{
	return cs->ctl_mode == SHMQ_CTL_GROUP_CLUSTERING;
}

static void group_req_fill(struct shmq_consumer *cs, struct shmq_ctl_group_req *g, uint32_t mode)
{
	/* Names were checked at open: these cannot fail. */
	(void)shmq_ctl_name_set(g->group, cs->group, false);
	(void)shmq_ctl_name_set(g->topic, cs->topic, false);
	g->mode = mode;
}

/* OPEN_QUEUE CONSUME for queue qi; attaches the ring. */
static int attach_ring(struct shmq_consumer *cs, uint32_t qi)
{
	struct shmq_cons_queue *q = &cs->q[qi];
	if (q->ring)
		return 0;
	uint64_t now = shmq_now_ns();
	if (now < q->ring_retry_ns)
		return -EAGAIN;
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_OPEN_QUEUE, 0, 0);
	(void)shmq_ctl_name_set(req->u.open_queue_req.topic, cs->topic, false);
	req->u.open_queue_req.queue = qi;
	req->u.open_queue_req.mode = SHMQ_CTL_OPEN_CONSUME;
	int fd = -1;
	int rc = shmq_cli_request(cs->cl, req, resp, &fd);
	if (rc == 0 && (fd < 0 || resp->u.open_queue_resp.queue != qi))
		rc = -EBADMSG;
	shmq_ring_t *r = NULL;
	if (rc == 0)
		rc = shmq_ring_attach_fd(fd, &r);
	if (rc == 0 && shmq_ring_capacity(r) != resp->u.open_queue_resp.ring_capacity) {
		shmq_ring_close(r);
		rc = SHMQ_ELAYOUT;
	}
	if (fd >= 0)
		close(fd);
	free(req);
	if (rc < 0) {
		q->ring_retry_ns = now + REJOIN_RETRY_NS;
		return rc;
	}
	q->ring = r;
	shmq_qc_set_ring(&q->cur, r);
	return 0;
}

static int start_option(struct shmq_consumer *cs, struct shmq_qcursor *c)
{
	enum shmq_start s = cs->o.start;
	if (s == SHMQ_START_COMMITTED)
		s = SHMQ_START_LATEST; /* never committed (or broadcasting, R4) */
	switch (s) {
	case SHMQ_START_EARLIEST:
		return shmq_qc_seek_earliest(c);
	case SHMQ_START_TIMESTAMP:
		return shmq_qc_seek_timestamp(c, cs->o.start_ts_ms);
	default:
		return shmq_qc_seek_latest(c);
	}
}

int shmq_cons_position(struct shmq_consumer *cs, uint32_t qi)
{
	struct shmq_cons_queue *q = &cs->q[qi];
	int rc = attach_ring(cs, qi);
	if (rc < 0)
		return rc;
	struct shmq_qcursor *c = &q->cur;
	/* the client's view of an ownership change: a new ordering run */
	SHMQ_PROBE_QUEUE_OWNER(shmq_probe_name_hash(cs->group), shmq_probe_name_hash(cs->topic), qi, cs->member,
		cs->gen_seen);
	if (!clustering(cs)) {
		/* R4: our own offset when we had one (a re-join), else the option. */
		if (q->resume) {
			shmq_qc_seek(c, q->delivered);
		} else {
			rc = start_option(cs, c);
			if (rc < 0)
				return rc;
			q->delivered = c->next_qo;
		}
		q->resume = false;
		q->positioned = true;
		return 0;
	}
	if (!cs->tab.hdr)
		return -ENOTCONN;
	struct shmq_offsets_slot *slot = &cs->tab.slots[qi];
	/* acquire: pairs with the broker's release store of reset_seq, so the
	 * committed word it rewrote before is visible below. */
	q->reset_seq = shmq_load_acquire(&slot->reset_seq);
	/* acquire: pairs with the release store of the member that committed
	 * last (or the broker's reset / restart adoption). */
	uint64_t committed = shmq_load_acquire(&slot->committed);
	if (committed != SHMQ_OFFSETS_NONE) {
		shmq_qc_seek(c, committed);
	} else {
		rc = start_option(cs, c);
		if (rc < 0)
			return rc;
	}
	q->delivered = c->next_qo;
	q->committed = committed;
	q->dirty = false;
	q->positioned = true;
	return 0;
}

bool shmq_cons_deliverable(struct shmq_consumer *cs, uint32_t qi)
{
	if (!clustering(cs))
		return true;
	if (!cs->tab.hdr)
		return false;
	struct shmq_offsets_slot *slot = &cs->tab.slots[qi];
	/* acquire: pairs with the broker's release stores of owner and
	 * revoke_gen (R1). */
	return shmq_load_acquire(&slot->owner) == cs->member &&
	       shmq_load_acquire(&slot->revoke_gen) == 0;
}

void shmq_cons_commit_queue(struct shmq_consumer *cs, uint32_t qi, uint64_t next)
{
	struct shmq_cons_queue *q = &cs->q[qi];
	if (clustering(cs)) {
		if (!cs->tab.hdr)
			return;
		struct shmq_offsets_slot *slot = &cs->tab.slots[qi];
		/* acquire: pairs with the broker's owner store; a queue given to
		 * another member is not ours to commit (R3). */
		if (shmq_load_acquire(&slot->owner) != cs->member)
			return;
		/* release: pairs with the broker's acquire load when it persists
		 * offsets and with the next owner's acquire in position(). */
		shmq_store_release(&slot->committed, next);
	}
	q->committed = next;
}

void shmq_cons_commit_delivered(struct shmq_consumer *cs, uint32_t qi)
{
	struct shmq_cons_queue *q = &cs->q[qi];
	if (cs->o.manual_commit && !cs->o.push)
		return; /* the application commits; nothing implied */
	if (q->dirty) {
		shmq_cons_commit_queue(cs, qi, q->delivered);
		q->dirty = false;
	}
}

/* Apply an assignment list (strictly increasing ids, checked by the codec). */
static void apply_assignment(struct shmq_consumer *cs, const uint32_t *ids, uint32_t n)
{
	uint32_t k = 0;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		bool mine = !clustering(cs); /* R4: every queue */
		while (k < n && ids[k] < qi)
			k++;
		if (k < n && ids[k] == qi)
			mine = true;
		struct shmq_cons_queue *q = &cs->q[qi];
		if (mine && !q->owned) {
			q->owned = true;
			q->positioned = false;
			q->retry_at_ns = 0;
			/* R2 now, so that LATEST means "from when we got it"; a
			 * failure is retried by the next poll. */
			(void)shmq_cons_position(cs, qi);
		} else if (!mine && q->owned) {
			q->owned = false; /* R3: no commit */
			q->positioned = false;
		}
	}
}

static void drop_rings(struct shmq_consumer *cs)
{
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		struct shmq_cons_queue *q = &cs->q[qi];
		shmq_qc_set_ring(&q->cur, NULL);
		shmq_ring_close(q->ring);
		q->ring = NULL;
		q->ring_retry_ns = 0;
	}
}

int shmq_cons_join(struct shmq_consumer *cs)
{
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_GROUP_JOIN, 0, 0);
	group_req_fill(cs, &req->u.group_req, cs->ctl_mode);
	int fd = -1;
	int rc = shmq_cli_request(cs->cl, req, resp, &fd);
	const struct shmq_ctl_group_join_resp_hdr *h = &resp->u.group_join_resp.hdr;
	struct shmq_offsets_map m = { .fd = -1 };
	if (rc == 0 && (h->mode != cs->ctl_mode || h->queues == 0 ||
			h->queues > SHMQ_CTL_QUEUES_MAX || h->count > h->queues ||
			(cs->q && h->queues != cs->nq))) {
		shmq_cli_set_error("GROUP_JOIN answer does not fit this consumer (mode %u, %u queues)",
				   h->mode, h->queues);
		rc = h->mode != cs->ctl_mode ? -EINVAL : -EBADMSG;
	}
	if (rc == 0 && fd >= 0) {
		rc = shmq_offsets_attach_fd(fd, &m);
		if (rc == 0 && m.queues != h->queues) {
			shmq_offsets_unmap(&m);
			rc = SHMQ_ECORRUPT;
		}
	} else if (rc == 0 && clustering(cs)) {
		rc = -EBADMSG; /* a clustering member needs the table */
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		free(req);
		return rc;
	}
	if (!cs->q) {
		cs->q = calloc(h->queues, sizeof(*cs->q));
		if (!cs->q) {
			shmq_offsets_unmap(&m);
			free(req);
			return -ENOMEM;
		}
		cs->nq = h->queues;
		for (uint32_t qi = 0; qi < cs->nq; qi++) {
			shmq_qc_init(&cs->q[qi].cur, cs->topic, qi, cs->broker_id, NULL, &cs->logsrc,
				     cs->o.visibility, cs->o.zero_copy && !cs->o.push);
			cs->q[qi].committed = SHMQ_OFFSETS_NONE;
		}
	}
	shmq_offsets_unmap(&cs->tab);
	cs->tab = m;
	cs->member = h->member_id;
	cs->gen_seen = h->generation;
	cs->epoch = shmq_cli_epoch(cs->cl);
	cs->joined = true;
	apply_assignment(cs, resp->u.group_join_resp.queues, h->count);
	free(req);
	return 0;
}

/* R5: a new session. Everything per-connection is redone. */
static void rejoin(struct shmq_consumer *cs)
{
	uint64_t now = shmq_now_ns();
	if (now < cs->next_join_ns)
		return;
	if (cs->joined)
		cs->st.reconnects++;
	cs->joined = false;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		struct shmq_cons_queue *q = &cs->q[qi];
		if (clustering(cs)) {
			q->owned = false; /* the broker lost our session: not ours now */
			q->positioned = false;
		} else if (q->positioned) {
			/* R4: continue after what we handed out, across the re-join */
			q->resume = true;
			q->positioned = false;
		}
	}
	drop_rings(cs);
	shmq_offsets_unmap(&cs->tab);
	if (shmq_cons_join(cs) < 0)
		cs->next_join_ns = now + REJOIN_RETRY_NS;
}

static int queue_release(struct shmq_consumer *cs, uint32_t qi, uint32_t gen)
{
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_QUEUE_RELEASE, 0, 0);
	(void)shmq_ctl_name_set(req->u.queue_release_req.group, cs->group, false);
	(void)shmq_ctl_name_set(req->u.queue_release_req.topic, cs->topic, false);
	req->u.queue_release_req.queue = qi;
	req->u.queue_release_req.generation = gen;
	int rc = shmq_cli_request(cs->cl, req, resp, NULL);
	free(req);
	return rc;
}

static int group_sync(struct shmq_consumer *cs)
{
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_GROUP_SYNC, 0, 0);
	group_req_fill(cs, &req->u.group_sync_req, 0);
	int rc = shmq_cli_request(cs->cl, req, resp, NULL);
	const struct shmq_ctl_group_join_resp_hdr *h = &resp->u.group_join_resp.hdr;
	if (rc == 0 && (h->queues != cs->nq || h->count > cs->nq))
		rc = -EBADMSG;
	if (rc == 0 && shmq_cli_epoch(cs->cl) == cs->epoch) {
		cs->gen_seen = h->generation;
		apply_assignment(cs, resp->u.group_join_resp.queues, h->count);
	}
	free(req);
	return rc;
}

static void rebalance(struct shmq_consumer *cs, uint32_t gen)
{
	cs->st.rebalances++;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		struct shmq_cons_queue *q = &cs->q[qi];
		if (!q->owned)
			continue;
		struct shmq_offsets_slot *slot = &cs->tab.slots[qi];
		/* acquire: pairs with the broker's release of revoke_gen/owner. */
		uint32_t rv = shmq_load_acquire(&slot->revoke_gen);
		if (rv != 0 && shmq_load_acquire(&slot->owner) == cs->member) {
			/* R1: we deliver nothing of q from here on; commit, then
			 * hand it back. */
			if (q->positioned)
				shmq_cons_commit_delivered(cs, qi);
			q->owned = false;
			q->positioned = false;
			(void)queue_release(cs, qi, rv);
			continue;
		}
		/* acquire: pairs with the broker's release after rewriting committed. */
		uint32_t rs = shmq_load_acquire(&slot->reset_seq);
		if (q->positioned && rs != q->reset_seq)
			q->positioned = false; /* R2: restart from the new committed */
	}
	if (shmq_cli_epoch(cs->cl) != cs->epoch)
		return; /* a request above reconnected: maintain() re-joins */
	if (group_sync(cs) < 0) {
		cs->gen_seen = gen - 1; /* try again, a little later */
		cs->next_sync_ns = shmq_now_ns() + REJOIN_RETRY_NS / 10;
	}
}

void shmq_cons_maintain(struct shmq_consumer *cs)
{
	uint64_t now = shmq_now_ns();
	if (now >= cs->next_alive_ns) {
		cs->next_alive_ns = now + SHMQ_CLI_CHECK_NS;
		(void)shmq_cli_check_alive(cs->cl);
	}
	if (!cs->joined || shmq_cli_epoch(cs->cl) != cs->epoch)
		rejoin(cs);
	if (!cs->joined || !clustering(cs) || !cs->tab.hdr || now < cs->next_sync_ns)
		return;
	/* acquire: pairs with the broker's release bump after it changed owner,
	 * revoke or reset words; one load when nothing changed. */
	uint32_t g = shmq_load_acquire(&cs->tab.hdr->generation);
	if (g != cs->gen_seen) {
		cs->gen_seen = g;
		rebalance(cs, g);
	}
}

void shmq_cons_leave(struct shmq_consumer *cs)
{
	if (cs->joined && shmq_cli_epoch(cs->cl) == cs->epoch) {
		struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
		if (req) {
			shmq_ctl_msg_init(req, SHMQ_CTL_GROUP_LEAVE, 0, 0);
			group_req_fill(cs, &req->u.group_req, 0);
			(void)shmq_cli_request(cs->cl, req, req + 1, NULL);
			free(req);
		}
	}
	cs->joined = false;
	drop_rings(cs);
	shmq_offsets_unmap(&cs->tab);
}
