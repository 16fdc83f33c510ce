/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the control server: the server object shared by server.c (life
 * cycle, event loop, sessions) and server_handlers.c (one function per
 * request type). Event-loop thread only. */
#ifndef SHMQ_BROKER_SERVER_INT_H
#define SHMQ_BROKER_SERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker/acl.h"
#include "broker/config.h"
#include "broker/groups.h"
#include "broker/persister.h"
#include "broker/queues.h"
#include "broker/server.h"
#include "broker/store/store.h"
#include "broker/topics.h"
#include "common/ctl_codec.h"

/* What an epoll event points at. */
enum srv_src_kind { SRV_SRC_LISTEN, SRV_SRC_SIGNAL, SRV_SRC_TIMER, SRV_SRC_SESSION };
struct srv_src {
	enum srv_src_kind kind;
};

struct srv_session {
	struct srv_src src;          /* first: epoll data points here */
	int fd;
	uint64_t id;                 /* session id = member id, never 0 */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool hello;
	uint64_t accepted_ns;        /* a session without HELLO by HELLO_TIMEOUT_NS is closed */
	uint32_t role;
	int consume_any;             /* -1 unknown; else has c on some topic (cached) */
	char group[SHMQ_CTL_NAME_LEN];
	struct srv_session *prev, *next;
};

struct shmq_server {
	const struct shmq_broker_config *cfg;
	/* Held by the event loop while it serves a batch of events (not while
	 * it waits in epoll_wait); the remote port's thread (broker/remote.c)
	 * takes it around each call into the ACL, topics, queues and groups,
	 * none of which is thread-safe. Never held while waiting. */
	pthread_mutex_t lock;
	struct shmq_remote *remote; /* STATUS counters; under lock (ADMIN STATUS reads it too) */
	shmq_acl_t *acl;
	shmq_store_t *store;
	uint64_t store_end_at_open;  /* recovered commitlog end: what came before this run */
	shmq_topics_t *topics;
	shmq_persister_t *persister;
	shmq_queues_t *queues;
	shmq_groups_t *groups;

	int epfd, lfd, sigfd, tfd;
	struct srv_src listen_src, signal_src, timer_src;
	bool listen_paused;          /* accept hit EMFILE: retried on the next tick */
	bool sock_bound;
	dev_t sock_dev;              /* the socket file we bound, to unlink only ours */
	ino_t sock_ino;
	bool pid_written;
	bool persister_running;
	bool stop;
	bool poison_logged;

	uint64_t start_ns;
	uint64_t next_session;
	struct srv_session *sessions;
	uint32_t nsessions;
	uint32_t sessions_max;       /* the fd limit less FD_RESERVE (server.c) */
	uint64_t refused_sessions;
	uint64_t last_persist_ns, last_retention_ns;

	/* one request and one answer at a time: the loop is single-threaded,
	 * and the messages are large (ctl_codec.h) */
	struct shmq_ctl_msg req, resp;
	uint8_t rbuf[SHMQ_CTL_MSG_MAX];
	uint8_t wbuf[SHMQ_CTL_MSG_MAX];
	char why[SHMQ_CTL_ERRMSG_LEN];  /* text of the ERROR being built */
};

/*
 * Serve one decoded request of a session that said HELLO (or the HELLO).
 * Fills s->resp and returns 0, with *fd >= 0 when an fd rides along (the
 * caller sends then closes it when @p close_fd); or returns a negative
 * status, with s->why set when there is more to say than shmq_strerror().
 */
int srv_handle(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
	       struct shmq_ctl_msg *resp, int *fd, bool *close_fd);

/* Bounds of a queue for offsets clamping (groups persist callback). */
int srv_queue_bounds(void *arg, const char *topic, uint32_t queue, uint64_t *min, uint64_t *max);

#endif
