/* SPDX-License-Identifier: Apache-2.0 */
/* shmqd's control server: start-up, event loop, sessions, shutdown. See
 * broker/server.h; the request handlers are in server_handlers.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "broker/log.h"
#include "broker/server_int.h"
#include "common/clock.h"
#include "common/ctl_sock.h"
#include "common/errbuf.h"
#include "common/fsutil.h"

#define COMP "server"
#define TICK_MS 100u
#define LISTEN_BACKLOG 128
/* Sessions cost an fd each and are open to every local user (the socket is
 * 0666; the ACL applies per request): a user may hold SESSIONS_PER_UID at
 * once (root: no limit), all of them together leave FD_RESERVE fds of the
 * broker's limit for its rings, tables and segments, and a session that
 * says nothing is closed after HELLO_TIMEOUT_NS. */
#define SESSIONS_PER_UID 1024u
#define FD_RESERVE 4096u
#define HELLO_TIMEOUT_NS 5000000000ull

/* ------------------------------------------------------------------ */
/* the control socket                                                   */

static int sock_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -ENAMETOOLONG;
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

/* 1 if a process accepts connections on @p path, 0 if nobody does (no file,
 * or a stale one), or -errno. */
static int socket_live(const char *path)
{
	struct sockaddr_un a;
	int rc = sock_addr(path, &a);
	if (rc < 0)
		return rc;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	close(fd);
	if (rc == 0)
		return 1;
	if (e == ENOENT || e == ECONNREFUSED)
		return 0;
	return -e;
}

static int listen_socket(struct shmq_server *s, char *err, size_t errlen)
{
	const char *path = s->cfg->control_socket;
	int live = socket_live(path);
	if (live == 1) {
		shmq_errbuf_set(err, errlen, "another broker answers on %s", path);
		return -EADDRINUSE;
	}
	if (live < 0 && live != -ENOTSOCK) {
		shmq_errbuf_set(err, errlen, "%s: %s", path, strerror(-live));
		return live;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			shmq_errbuf_set(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		shmq_log_info(COMP, "removing stale socket %s (nobody answers on it)", path);
		if (unlink(path) != 0 && errno != ENOENT) {
			int e = errno;
			shmq_errbuf_set(err, errlen, "cannot remove stale %s: %s", path, strerror(e));
			return -e;
		}
	}
	struct sockaddr_un a;
	int rc = sock_addr(path, &a);
	if (rc < 0)
		return rc;
	s->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	/* Access control is the ACL's job (SO_PEERCRED): any local user may
	 * connect and be told what it may do. */
	mode_t old = umask(0);
	rc = bind(s->lfd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	umask(old);
	if (rc != 0) {
		shmq_errbuf_set(err, errlen, "bind %s: %s", path, strerror(e));
		return -e;
	}
	chmod(path, 0666);
	if (stat(path, &st) == 0) {
		s->sock_dev = st.st_dev;
		s->sock_ino = st.st_ino;
	}
	s->sock_bound = true;
	if (listen(s->lfd, LISTEN_BACKLOG) != 0) {
		e = errno;
		shmq_errbuf_set(err, errlen, "listen %s: %s", path, strerror(e));
		return -e;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->listen_src };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) != 0)
		return -errno;
	return 0;
}

/* Remove the socket file only if it is still the one we bound. */
static void unlink_socket(struct shmq_server *s)
{
	struct stat st;
	if (!s->sock_bound)
		return;
	if (stat(s->cfg->control_socket, &st) == 0 && st.st_dev == s->sock_dev &&
	    st.st_ino == s->sock_ino)
		unlink(s->cfg->control_socket);
	s->sock_bound = false;
}

/* ------------------------------------------------------------------ */
/* start-up                                                             */

static void log_recovery(const struct shmq_store_recovery_report *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	shmq_store_report_print(r, f);
	fclose(f);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		shmq_log(r->abnormal ? SHMQ_LOG_WARN : SHMQ_LOG_INFO, "store", "%s", line);
	free(text);
}

static int open_store(struct shmq_server *s, char *err, size_t errlen)
{
	const struct shmq_broker_config *c = s->cfg;
	/* a store record is the ring payload plus the store's header and the
	 * topic: leave room for both, within the store's own limit */
	uint64_t max_rec = c->max_message_size + 4096;
	if (max_rec > c->segment_size / 2)
		max_rec = c->segment_size / 2;
	SHMQ_STORE_OPTS(o, .dir = c->store_dir, .segment_size = c->segment_size,
			.max_msg_size = (uint32_t)max_rec,
			.flush_mode = c->flush_mode == SHMQ_BROKER_FLUSH_SYNC ? SHMQ_FLUSH_SYNC
									  : SHMQ_FLUSH_ASYNC,
			.flush_interval_ms = (uint32_t)c->flush_interval_ms,
			.broker_id = c->broker_id,
			.retention_ms = c->retention_hours * 3600ull * 1000ull,
			.disk_max_used_ratio = (double)c->disk_max_used_ratio / 100.0);
	struct shmq_store_recovery_report rep;
	int rc = shmq_store_open(&o, &s->store, &rep);
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "store %s: %s%s", c->store_dir, shmq_strerror(rc),
				rc == -EBUSY ? " (another broker uses it)" : "");
		return rc;
	}
	log_recovery(&rep);
	s->store_end_at_open = rep.end_offset;
	return 0;
}

static int open_rings(struct shmq_server *s, char *err, size_t errlen)
{
	SHMQ_PERSISTER_OPTS(po, .sync = s->cfg->flush_mode == SHMQ_BROKER_FLUSH_SYNC);
	int rc = shmq_persister_create(s->store, &po, &s->persister);
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "persister: %s", shmq_strerror(rc));
		return rc;
	}
	const struct shmq_queues_opts qo = {
		.ring_dir = s->cfg->ring_dir,
		.capacity = s->cfg->ring_capacity,
		.max_msg = (uint32_t)s->cfg->max_message_size,
		.unblock_timeout_ns = s->cfg->unblock_timeout_ms * 1000000ull,
	};
	rc = shmq_queues_create(&qo, s->persister, &s->queues);
	if (rc < 0)
		return rc;
	struct shmq_topic_info ti[SHMQ_CTL_LIST_MAX];
	uint32_t total = 0, start = 0, reopened = 0;
	for (;;) {
		int n = shmq_topics_list(s->topics, start, ti, SHMQ_CTL_LIST_MAX, &total);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			rc = shmq_queues_open_topic(s->queues, ti[i].name, ti[i].queues);
			if (rc < 0) {
				shmq_errbuf_set(err, errlen, "rings of topic '%s' in %s: %s", ti[i].name,
						s->cfg->ring_dir, shmq_strerror(rc));
				return rc;
			}
		}
		start += (uint32_t)n;
	}
	for (size_t i = 0; i < shmq_queues_count(s->queues); i++)
		reopened += shmq_queues_at(s->queues, i)->reopened;
	shmq_log_info(COMP, "%zu rings for %u topics (%u re-opened)", shmq_queues_count(s->queues),
		      total, reopened);
	return 0;
}

static int setup_fds(struct shmq_server *s)
{
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0)
		return -errno;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return -errno;
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->tfd < 0)
		return -errno;
	struct itimerspec its = {
		.it_interval = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000l },
		.it_value = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000l },
	};
	if (timerfd_settime(s->tfd, 0, &its, NULL) != 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->signal_src };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) != 0)
		return -errno;
	ev.data.ptr = &s->timer_src;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev) != 0)
		return -errno;
	return 0;
}

static int write_pid_file(struct shmq_server *s)
{
	const char *path = s->cfg->pid_file;
	char tmp[SHMQ_CONFIG_PATH_MAX + 8];
	char line[32];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Remove the pid file only if it still holds our pid (a broker that failed
 * to start must not remove the file of the one that runs). */
static void remove_pid_file(struct shmq_server *s)
{
	char line[32] = "";
	int fd = open(s->cfg->pid_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n > 0 && atoi(line) == (int)getpid())
		unlink(s->cfg->pid_file);
}

int shmq_server_create(const struct shmq_broker_config *cfg, shmq_server_t **out, char *err,
		       size_t errlen)
{
	struct shmq_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = cfg;
	pthread_mutex_init(&s->lock, NULL);
	s->epfd = s->lfd = s->sigfd = s->tfd = -1;
	s->listen_src.kind = SRV_SRC_LISTEN;
	s->signal_src.kind = SRV_SRC_SIGNAL;
	s->timer_src.kind = SRV_SRC_TIMER;
	s->start_ns = shmq_now_ns();
	int rc;

	/* Every ring, table, segment and session is an fd: take what the hard
	 * limit allows, and keep FD_RESERVE of it out of the sessions' reach. */
	struct rlimit nofile = { 1024, 1024 };
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) != 0)
			(void)getrlimit(RLIMIT_NOFILE, &nofile);
	}
	rlim_t fds = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > (1u << 30) ? (1u << 30) : nofile.rlim_cur;
	s->sessions_max = fds > 2 * FD_RESERVE ? (uint32_t)(fds - FD_RESERVE) : (uint32_t)(fds / 2);
	shmq_log_info(COMP, "fd limit %llu: up to %u sessions (%u per user but root)", (unsigned long long)fds,
		      s->sessions_max, SESSIONS_PER_UID);

	/* Session ids of two runs must not collide (a client of the previous
	 * run must never match a member id of this one): random base. */
	if (getrandom(&s->next_session, sizeof(s->next_session), 0) != sizeof(s->next_session))
		s->next_session = shmq_now_ns() ^ ((uint64_t)getpid() << 40);

	const char *dirs[] = { cfg->base_dir, cfg->store_dir, cfg->ring_dir };
	for (size_t i = 0; i < 3; i++) {
		rc = shmq_mkdir_p(dirs[i]);
		if (rc < 0) {
			shmq_errbuf_set(err, errlen, "mkdir -p %s: %s", dirs[i], strerror(-rc));
			goto fail;
		}
	}
	char sockdir[SHMQ_CONFIG_PATH_MAX];
	snprintf(sockdir, sizeof(sockdir), "%s", cfg->control_socket);
	char *slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		rc = shmq_mkdir_p(sockdir);
		if (rc < 0) {
			shmq_errbuf_set(err, errlen, "mkdir -p %s: %s", sockdir, strerror(-rc));
			goto fail;
		}
	}
	/* fail fast, before a long recovery, if a broker serves the socket */
	if (socket_live(cfg->control_socket) == 1) {
		shmq_errbuf_set(err, errlen, "another broker answers on %s", cfg->control_socket);
		rc = -EADDRINUSE;
		goto fail;
	}
	rc = shmq_broker_config_build_acl(cfg, &s->acl, err, errlen);
	if (rc < 0)
		goto fail;
	rc = open_store(s, err, errlen);
	if (rc < 0)
		goto fail;
	rc = shmq_topics_open(&s->topics, cfg->store_dir, err, errlen);
	if (rc < 0)
		goto fail;
	rc = open_rings(s, err, errlen);
	if (rc < 0)
		goto fail;
	rc = shmq_groups_create(cfg->ring_dir, cfg->store_dir, cfg->revoke_timeout_ms * 1000000ull,
				&s->groups, err, errlen);
	if (rc < 0)
		goto fail;
	shmq_log_info(COMP, "%zu consumer group entries restored", shmq_groups_count(s->groups));
	rc = setup_fds(s);
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "event loop set-up: %s", strerror(-rc));
		goto fail;
	}
	rc = shmq_persister_start(s->persister);
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "persister thread: %s", strerror(-rc));
		goto fail;
	}
	s->persister_running = true;
	/* the pid file first: whoever sees the socket answer finds it */
	if (cfg->pid_file[0]) {
		rc = write_pid_file(s);
		if (rc < 0) {
			shmq_errbuf_set(err, errlen, "pid file %s: %s", cfg->pid_file, strerror(-rc));
			goto fail;
		}
		s->pid_written = true;
	}
	rc = listen_socket(s, err, errlen);
	if (rc < 0)
		goto fail;
	s->last_persist_ns = s->last_retention_ns = shmq_now_ns();
	shmq_log_info(COMP, "ready: broker '%s' (id %u, pid %d) on %s, store %s, rings %s, flush %s",
		      cfg->broker_name, cfg->broker_id, (int)getpid(), cfg->control_socket,
		      cfg->store_dir, cfg->ring_dir,
		      cfg->flush_mode == SHMQ_BROKER_FLUSH_SYNC ? "sync" : "async");
	*out = s;
	return 0;
fail:
	shmq_server_destroy(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* sessions                                                             */

static void session_close(struct shmq_server *s, struct srv_session *ss, const char *why)
{
	shmq_log_debug(COMP, "session %" PRIu64 " (pid %d) closed: %s", ss->id, (int)ss->pid, why);
	if (s->groups)
		shmq_groups_member_gone(s->groups, ss->id);
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, ss->fd, NULL);
	close(ss->fd);
	if (ss->prev)
		ss->prev->next = ss->next;
	else
		s->sessions = ss->next;
	if (ss->next)
		ss->next->prev = ss->prev;
	s->nsessions--;
	free(ss);
}

static void pause_listen(struct shmq_server *s, bool pause)
{
	if (pause == s->listen_paused)
		return;
	if (pause) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
	} else {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->listen_src };
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) != 0)
			return;
	}
	s->listen_paused = pause;
}

static void on_accept(struct shmq_server *s)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* level-triggered: stop polling the listener until the next
			 * tick instead of spinning on the error */
			shmq_log_warn(COMP, "accept: %s; pausing new connections", strerror(errno));
			pause_listen(s, true);
		}
		return;
	}
	struct srv_session *ss = calloc(1, sizeof(*ss));
	if (!ss) {
		close(fd);
		return;
	}
	ss->src.kind = SRV_SRC_SESSION;
	ss->fd = fd;
	ss->consume_any = -1;
	ss->accepted_ns = shmq_now_ns();
	if (shmq_ctl_sock_peercred(fd, &ss->pid, &ss->uid, &ss->gid) < 0) {
		close(fd);
		free(ss);
		return;
	}
	const char *refused = NULL;
	if (s->nsessions >= s->sessions_max) {
		refused = "sessions of all users";
	} else if (ss->uid != 0) {
		uint32_t mine = 0;
		for (const struct srv_session *o = s->sessions; o; o = o->next)
			mine += o->uid == ss->uid;
		if (mine >= SESSIONS_PER_UID)
			refused = "sessions of this user";
	}
	if (refused) {
		/* rate-limited by the accept loop itself: one line per refusal
		 * would let the flood fill the log */
		if (s->refused_sessions++ % 1024 == 0)
			shmq_log_warn(COMP, "connection of pid %d uid %u refused: too many %s (%" PRIu64 " refused so far)",
				      (int)ss->pid, (unsigned)ss->uid, refused, s->refused_sessions);
		close(fd);
		free(ss);
		return;
	}
	if (++s->next_session == 0)
		s->next_session = 1;
	ss->id = s->next_session;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = ss };
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		free(ss);
		return;
	}
	ss->next = s->sessions;
	if (s->sessions)
		s->sessions->prev = ss;
	s->sessions = ss;
	s->nsessions++;
	shmq_log_debug(COMP, "session %" PRIu64 ": connected, pid %d uid %u gid %u", ss->id,
		       (int)ss->pid, (unsigned)ss->uid, (unsigned)ss->gid);
}

/* Encode and send s->resp (with @p fd if >= 0). false: the session is gone. */
static bool send_resp(struct shmq_server *s, struct srv_session *ss, int fd)
{
	if (fd >= 0)
		s->resp.flags |= SHMQ_CTL_F_HAS_FD;
	int n = shmq_ctl_encode(&s->resp, s->wbuf, sizeof(s->wbuf));
	if (n < 0) {
		/* our own answer broke an invariant the codec checks: a bug,
		 * but the client still gets an answer */
		shmq_log_error(COMP, "session %" PRIu64 ": %s response does not encode: %s", ss->id,
			       shmq_ctl_type_name(s->resp.type), shmq_strerror(n));
		shmq_ctl_error_init(&s->resp, s->resp.request_id, -EPROTO,
				    "broker could not encode its %s response",
				    shmq_ctl_type_name(s->resp.type));
		fd = -1;
		n = shmq_ctl_encode(&s->resp, s->wbuf, sizeof(s->wbuf));
		if (n < 0)
			return true;
	}
	int rc = shmq_ctl_sock_send(ss->fd, s->wbuf, (size_t)n, fd >= 0 ? &fd : NULL,
				    fd >= 0 ? 1u : 0u, MSG_DONTWAIT);
	if (rc < 0) {
		session_close(s, ss, rc == -EAGAIN ? "client does not read its answers"
						   : shmq_strerror(rc));
		return false;
	}
	return true;
}

static void send_error(struct shmq_server *s, struct srv_session *ss, uint64_t request_id,
		       int status, const char *text)
{
	shmq_ctl_error_init(&s->resp, request_id, status, "%s", text && text[0] ? text
								      : shmq_strerror(status));
	send_resp(s, ss, -1);
}

/* The request id of a datagram the codec refused, if its header is there. */
static uint64_t raw_request_id(const uint8_t *buf, size_t len)
{
	uint64_t id = 0;
	if (len >= sizeof(struct shmq_ctl_hdr))
		for (int i = 7; i >= 0; i--)
			id = id << 8 | buf[offsetof(struct shmq_ctl_hdr, request_id) + (size_t)i];
	return id;
}

static void on_session(struct shmq_server *s, struct srv_session *ss, uint32_t events)
{
	unsigned nfds = 0;
	ssize_t len = shmq_ctl_sock_recv(ss->fd, s->rbuf, sizeof(s->rbuf), NULL, 0, &nfds,
					 MSG_DONTWAIT);
	if (len == -EAGAIN) {
		if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
			session_close(s, ss, "hang-up");
		return;
	}
	if (len == 0) {
		session_close(s, ss, "closed by peer");
		return;
	}
	if (len == -EMSGSIZE || len == -EBADMSG) {
		send_error(s, ss, 0, (int)len, len == -EMSGSIZE
			   ? "datagram larger than SHMQ_CTL_MSG_MAX" : "clients must not send file descriptors");
		return;
	}
	if (len < 0) {
		session_close(s, ss, shmq_strerror((int)len));
		return;
	}
	int rc = shmq_ctl_decode(s->rbuf, (size_t)len, &s->req);
	if (rc == 0 && (s->req.flags & SHMQ_CTL_F_RESPONSE))
		rc = -EBADMSG; /* the broker answers, it is never answered */
	if (rc < 0) {
		uint64_t id = raw_request_id(s->rbuf, (size_t)len);
		shmq_log_info(COMP, "session %" PRIu64 " (pid %d): malformed request (%zd bytes): %s",
			      ss->id, (int)ss->pid, len, shmq_strerror(rc));
		send_error(s, ss, id, rc, rc == -EPROTONOSUPPORT
			   ? "unknown magic or control protocol version" : "malformed request");
		return;
	}
	int fd = -1;
	bool close_fd = false;
	shmq_log_debug(COMP, "session %" PRIu64 ": %s request %" PRIu64, ss->id,
		       shmq_ctl_type_name(s->req.type), s->req.request_id);
	rc = srv_handle(s, ss, &s->req, &s->resp, &fd, &close_fd);
	if (rc < 0) {
		shmq_log_debug(COMP, "session %" PRIu64 ": %s refused: %s (%s)", ss->id,
			       shmq_ctl_type_name(s->req.type), shmq_strerror(rc), s->why);
		send_error(s, ss, s->req.request_id, rc, s->why);
	} else {
		send_resp(s, ss, fd);
	}
	if (close_fd && fd >= 0)
		close(fd);
}

/* ------------------------------------------------------------------ */
/* timers and signals                                                   */

static void persist_offsets(struct shmq_server *s)
{
	int rc = shmq_groups_persist(s->groups, srv_queue_bounds, s);
	if (rc < 0)
		shmq_log_error(COMP, "persisting consumer offsets: %s", shmq_strerror(rc));
}

static void on_tick(struct shmq_server *s)
{
	uint64_t expirations;
	if (read(s->tfd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: a spurious wake-up; the work below is idempotent */
	}
	uint64_t now = shmq_now_ns();
	shmq_groups_tick(s->groups, now);
	if (now - s->last_persist_ns >= s->cfg->offset_persist_interval_ms * 1000000ull) {
		s->last_persist_ns = now;
		persist_offsets(s);
	}
	if (now - s->last_retention_ns >= s->cfg->retention_check_interval_ms * 1000000ull) {
		s->last_retention_ns = now;
		int n = shmq_store_run_retention(s->store, shmq_wall_ms());
		if (n > 0)
			shmq_log_info(COMP, "retention deleted %d commitlog segments", n);
		else if (n < 0)
			shmq_log_error(COMP, "retention: %s", shmq_strerror(n));
	}
	pause_listen(s, false);
	for (struct srv_session *ss = s->sessions, *nx; ss; ss = nx) {
		nx = ss->next;
		if (!ss->hello && now - ss->accepted_ns >= HELLO_TIMEOUT_NS)
			session_close(s, ss, "no HELLO within 5 s");
	}
	if (!s->poison_logged) {
		struct shmq_persister_stats st;
		shmq_persister_stats(s->persister, &st);
		if (st.poisoned) {
			/* S4: nothing is persisted any more; only a restart (store
			 * recovery) clears it. Say so once, loudly. */
			shmq_log_error(COMP, "the store is poisoned (%s): messages are no longer persisted; restart the broker",
				       shmq_strerror(st.poisoned));
			s->poison_logged = true;
		}
	}
}

static void on_signal(struct shmq_server *s)
{
	struct signalfd_siginfo si;
	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			int rc = shmq_log_open(s->cfg->log_file);
			shmq_log_info(COMP, "SIGHUP: log re-opened%s%s", rc < 0 ? ": " : "",
				      rc < 0 ? strerror(-rc) : "");
		} else {
			shmq_log_info(COMP, "signal %u (%s) from pid %u: shutting down", si.ssi_signo,
				      strsignal((int)si.ssi_signo), si.ssi_pid);
			s->stop = true;
		}
	}
}

void shmq_server_set_remote(shmq_server_t *s, struct shmq_remote *r)
{
	/* under the lock: the remote port's ADMIN STATUS reads it (srv_handle) */
	pthread_mutex_lock(&s->lock);
	s->remote = r;
	pthread_mutex_unlock(&s->lock);
}

int shmq_server_run(shmq_server_t *s)
{
	struct epoll_event evs[64];
	while (!s->stop) {
		int n = epoll_wait(s->epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			shmq_log_error(COMP, "epoll_wait: %s", strerror(e));
			return -e;
		}
		pthread_mutex_lock(&s->lock); /* see server_int.h: the remote port shares the state */
		for (int i = 0; i < n && !s->stop; i++) {
			struct srv_src *src = evs[i].data.ptr;
			switch (src->kind) {
			case SRV_SRC_LISTEN: on_accept(s); break;
			case SRV_SRC_SIGNAL: on_signal(s); break;
			case SRV_SRC_TIMER: on_tick(s); break;
			case SRV_SRC_SESSION:
				/* a session closed earlier in this batch cannot appear
				 * later in it: only its own event closes it */
				on_session(s, (struct srv_session *)src, evs[i].events);
				break;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* shutdown                                                             */

/* Wait until the persister has persisted every ring up to the tail it had
 * when we started waiting (or the ring is fenced), at most drain_ms. A record
 * a dead producer left reserved is padded out by the persister after the
 * ring's unblock timeout, so it delays but does not block this. */
static void drain_rings(struct shmq_server *s)
{
	size_t n = shmq_queues_count(s->queues);
	uint64_t *target = calloc(n ? n : 1, sizeof(*target));
	if (!target)
		return;
	for (size_t i = 0; i < n; i++)
		target[i] = shmq_ring_tail(shmq_queues_at(s->queues, i)->ring);
	uint64_t t0 = shmq_now_ns();
	uint64_t deadline = t0 + s->cfg->shutdown_drain_ms * 1000000ull;
	size_t left;
	for (;;) {
		left = 0;
		for (size_t i = 0; i < n; i++) {
			shmq_ring_t *r = shmq_queues_at(s->queues, i)->ring;
			if (shmq_ring_mark(r, SHMQ_RING_MARK_PERSISTED) < target[i] &&
			    !shmq_persister_ring_fenced(s->persister, r))
				left++;
		}
		struct shmq_persister_stats st;
		shmq_persister_stats(s->persister, &st);
		if (left == 0 || st.poisoned || shmq_now_ns() >= deadline)
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	if (left)
		shmq_log_warn(COMP, "shutdown: %zu rings not drained after %" PRIu64 " ms; the next start persists them",
			      left, s->cfg->shutdown_drain_ms);
	else
		shmq_log_info(COMP, "shutdown: rings drained in %" PRIu64 " ms",
			      (shmq_now_ns() - t0) / 1000000u);
	free(target);
}

int shmq_server_destroy(shmq_server_t *s)
{
	if (!s)
		return 0;
	int first = 0;
	if (s->lfd >= 0) {
		if (!s->listen_paused)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
		close(s->lfd); /* new connections are refused from here on */
		s->lfd = -1;
	}
	if (s->persister_running) {
		drain_rings(s);
		shmq_persister_stop(s->persister);
		s->persister_running = false;
	}
	if (s->groups) {
		int rc = shmq_groups_persist(s->groups, srv_queue_bounds, s);
		if (rc < 0) {
			shmq_log_error(COMP, "persisting consumer offsets at shutdown: %s", shmq_strerror(rc));
			first = first ? first : rc;
		}
	}
	while (s->sessions) {
		struct srv_session *ss = s->sessions;
		s->sessions = ss->next;
		close(ss->fd);
		free(ss);
	}
	s->nsessions = 0;
	shmq_groups_destroy(s->groups);
	shmq_queues_destroy(s->queues);
	if (s->persister) {
		struct shmq_persister_stats st;
		shmq_persister_stats(s->persister, &st);
		shmq_log_info(COMP, "persister: %" PRIu64 " messages in %" PRIu64 " appends, %" PRIu64
			      " corrupt, %" PRIu64 " rejected", st.messages, st.appends, st.corrupt,
			      st.rejected);
		shmq_persister_destroy(s->persister);
	}
	if (s->store) {
		int rc = shmq_store_close(s->store);
		if (rc < 0) {
			shmq_log_error(COMP, "store close: %s (the next start recovers)", shmq_strerror(rc));
			first = first ? first : rc;
		} else {
			shmq_log_info(COMP, "store closed cleanly");
		}
	}
	shmq_topics_close(s->topics);
	shmq_acl_destroy(s->acl);
	unlink_socket(s);
	if (s->pid_written)
		remove_pid_file(s);
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return first;
}
