/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client handle: one control connection to shmqd (client_int.h explains
 * the request/reconnect model), plus the topic calls of shmq/shmq.h.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ctl_sock.h"

struct shmq_client {
	pthread_mutex_t lock;          /* one request at a time; guards the fields below it */
	int sock;                      /* -1 while disconnected */
	uint64_t next_request_id;
	uint8_t buf[SHMQ_CTL_MSG_MAX]; /* wire buffer of the request in flight */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char group[SHMQ_CTL_NAME_LEN];
	char broker_name[SHMQ_CTL_NAME_LEN];
	uint64_t request_timeout_ns;
	uint64_t reconnect_timeout_ns;
	/* Read without the lock by other handles' hot paths: */
	_Atomic uint64_t session;
	_Atomic uint32_t epoch;
	_Atomic uint32_t broker_id;
	_Atomic uint64_t last_check_ns;
	struct shmq_remote *remote;    /* non-NULL: a remote broker (client/remote.h); nothing above is used */
};

struct shmq_remote *shmq_cli_remote(const shmq_client_t *c)
{
	return c ? c->remote : NULL;
}

/* The broker's refusal text of the last request of this thread. */
static _Thread_local char tl_last_error[SHMQ_CTL_ERRMSG_LEN];

SHMQ_API const char *shmq_client_last_error(void)
{
	return tl_last_error;
}

void shmq_cli_set_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tl_last_error, sizeof(tl_last_error), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* connection                                                          */

static int default_socket_path(char *out, size_t n)
{
	const char *env = getenv("SHMQ_SOCKET");
	int len;
	if (env && env[0]) {
		len = snprintf(out, n, "%s", env);
	} else {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/')
			len = snprintf(out, n, "%s/shmq/shmqd.sock", xdg);
		else
			len = snprintf(out, n, "/tmp/shmq-%u/shmqd.sock", (unsigned)getuid());
	}
	return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

static bool dead_socket_error(int rc)
{
	return rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN || rc == -ECONNABORTED;
}

/* Wait until @p sock is readable or @p deadline (monotonic ns). */
static int wait_readable(int sock, uint64_t deadline)
{
	for (;;) {
		uint64_t now = shmq_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left_ms = (deadline - now + 999999) / 1000000;
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int n = poll(&pfd, 1, left_ms > 60000 ? 60000 : (int)left_ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Send @p req, receive its answer (dropping answers to older requests).
 * Caller holds the lock and sock >= 0. Returns 0 (resp decoded, RESPONSE of
 * the request's type or ERROR), a dead-socket error, or another -errno.
 */
static int roundtrip_locked(shmq_client_t *c, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp,
			    int *rfd)
{
	req->request_id = ++c->next_request_id;
	req->flags = 0;
	int len = shmq_ctl_encode(req, c->buf, sizeof(c->buf));
	if (len < 0)
		return len;
	int rc = shmq_ctl_sock_send(c->sock, c->buf, (size_t)len, NULL, 0, 0);
	if (rc < 0)
		return rc;
	uint64_t deadline = shmq_now_ns() + c->request_timeout_ns;
	for (;;) {
		rc = wait_readable(c->sock, deadline);
		if (rc < 0)
			return rc;
		int fds[1] = { -1 };
		unsigned nfds = 0;
		ssize_t n = shmq_ctl_sock_recv(c->sock, c->buf, sizeof(c->buf), fds, 1, &nfds, MSG_DONTWAIT);
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n == 0)
			return -ECONNRESET; /* the broker closed the connection */
		if (n < 0)
			return (int)n;
		rc = shmq_ctl_decode(c->buf, (size_t)n, resp);
		if (rc < 0) {
			if (nfds)
				close(fds[0]);
			return rc == -EPROTONOSUPPORT ? rc : -EBADMSG;
		}
		if (resp->request_id != req->request_id) {
			/* the late answer to a request that timed out */
			if (nfds)
				close(fds[0]);
			continue;
		}
		if (rfd)
			*rfd = nfds ? fds[0] : -1;
		else if (nfds)
			close(fds[0]);
		return 0;
	}
}

/* Connect and HELLO once. Caller holds the lock. */
static int connect_once_locked(shmq_client_t *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, c->path, sizeof(sa.sun_path));
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(s);
		return e;
	}
	c->sock = s;
	struct shmq_ctl_msg req, resp;
	shmq_ctl_msg_init(&req, SHMQ_CTL_HELLO, 0, 0);
	req.u.hello_req.client_version = SHMQ_CTL_VERSION;
	req.u.hello_req.role = SHMQ_CTL_ROLE_ALL;
	memcpy(req.u.hello_req.group, c->group, sizeof(c->group));
	int rc = roundtrip_locked(c, &req, &resp, NULL);
	if (rc == 0 && resp.type == SHMQ_CTL_ERROR) {
		shmq_cli_set_error("%s", resp.u.error.message);
		rc = resp.u.error.status < 0 ? resp.u.error.status : -EPROTO;
	} else if (rc == 0 && resp.type != SHMQ_CTL_HELLO) {
		rc = -EBADMSG;
	} else if (rc == 0 && resp.u.hello_resp.server_version != SHMQ_CTL_VERSION) {
		rc = -EPROTONOSUPPORT;
	}
	if (rc < 0) {
		close(s);
		c->sock = -1;
		return rc;
	}
	memcpy(c->broker_name, resp.u.hello_resp.broker_name, sizeof(c->broker_name));
	c->broker_name[sizeof(c->broker_name) - 1] = '\0';
	/* relaxed: these are read by the hot paths of other handles only as
	 * hints (session/epoch are re-read under the lock when it matters) */
	shmq_store_relaxed(&c->broker_id, resp.u.hello_resp.broker_id);
	shmq_store_relaxed(&c->session, resp.u.hello_resp.session_id);
	return 0;
}

/* Errors after which another connect attempt can help (a restarting broker). */
static bool retryable_connect_error(int rc)
{
	return rc == -ENOENT || rc == -ECONNREFUSED || rc == -ETIMEDOUT || rc == -EAGAIN ||
	       dead_socket_error(rc);
}

/* Reconnect with back-off until reconnect_timeout_ns (@p once: a single
 * attempt, for callers that must not block). Caller holds the lock. */
static int reconnect_locked(shmq_client_t *c, bool once)
{
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
	uint64_t deadline = shmq_now_ns() + c->reconnect_timeout_ns;
	uint64_t backoff_ns = 5000000; /* 5 ms, doubling to 200 ms */
	for (;;) {
		int rc = connect_once_locked(c);
		if (rc == 0) {
			/* release: pairs with the acquire in shmq_cli_epoch(); the
			 * session id stored above is visible with the new epoch */
			atomic_fetch_add_explicit(&c->epoch, 1, memory_order_release);
			return 0;
		}
		if (once || !retryable_connect_error(rc))
			return rc;
		uint64_t now = shmq_now_ns();
		if (now >= deadline)
			return rc;
		uint64_t d = deadline - now < backoff_ns ? deadline - now : backoff_ns;
		struct timespec ts = { .tv_sec = (time_t)(d / 1000000000ull), .tv_nsec = (long)(d % 1000000000ull) };
		nanosleep(&ts, NULL);
		if (backoff_ns < 200000000)
			backoff_ns *= 2;
	}
}

int shmq_cli_request(shmq_client_t *c, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd)
{
	if (fd)
		*fd = -1;
	if (!c || !req || !resp)
		return -EINVAL;
	int rc = 0;
	if (c->remote) {
		if (fd) {
			shmq_cli_set_error("%s is not available over the network (it passes a file descriptor)",
					   shmq_ctl_type_name(req->type));
			return -EOPNOTSUPP;
		}
		rc = shmq_remote_ctl_call(c->remote, req, resp); /* ADMIN (client_int.h) */
	} else {
		pthread_mutex_lock(&c->lock);
		for (int attempt = 0; attempt < 2; attempt++) {
			if (c->sock < 0 && (rc = reconnect_locked(c, false)) < 0)
				break;
			rc = roundtrip_locked(c, req, resp, fd);
			if (!dead_socket_error(rc))
				break;
			close(c->sock);
			c->sock = -1;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (rc < 0)
		return rc;
	if (resp->type == SHMQ_CTL_ERROR) {
		if (fd && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		shmq_cli_set_error("%s", resp->u.error.message);
		return resp->u.error.status < 0 ? resp->u.error.status : -EPROTO;
	}
	if (resp->type != req->type) {
		if (fd && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		return -EBADMSG;
	}
	tl_last_error[0] = '\0';
	return 0;
}

uint64_t shmq_cli_session(shmq_client_t *c)
{
	/* relaxed: a member id read after the request that returned it */
	return shmq_load_relaxed(&c->session);
}

uint32_t shmq_cli_epoch(shmq_client_t *c)
{
	/* acquire: pairs with the release in reconnect_locked() */
	return shmq_load_acquire(&c->epoch);
}

uint32_t shmq_cli_broker_id(shmq_client_t *c)
{
	if (c->remote) {
		uint32_t id = 0;
		return shmq_remote_broker_id(c->remote, &id) == 0 ? id : 0;
	}
	/* relaxed: written once per HELLO, an id, no data hangs on it */
	return shmq_load_relaxed(&c->broker_id);
}

const char *shmq_cli_group(const shmq_client_t *c)
{
	return c->group;
}

int shmq_cli_check_alive(shmq_client_t *c)
{
	uint64_t now = shmq_now_ns();
	/* relaxed: a rate limiter; two threads checking at once is harmless */
	uint64_t last = shmq_load_relaxed(&c->last_check_ns);
	if (now - last < SHMQ_CLI_CHECK_NS)
		return 0;
	shmq_store_relaxed(&c->last_check_ns, now);
	if (pthread_mutex_trylock(&c->lock) != 0)
		return 0; /* a request is in flight: it notices a dead socket itself */
	int rc = 0;
	if (c->sock >= 0) {
		struct pollfd pfd = { .fd = c->sock, .events = POLLRDHUP };
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			rc = reconnect_locked(c, true);
	} else {
		rc = reconnect_locked(c, true);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* public API                                                          */

SHMQ_API int shmq_client_open(const char *broker, const struct shmq_client_opts *opts,
			      shmq_client_t **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct shmq_client_opts o = { .sz = sizeof(o) };
	if (opts) {
		if (opts->sz < offsetof(struct shmq_client_opts, group) + sizeof(opts->group))
			return -EINVAL;
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	}
	shmq_client_t *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = -1;
	if (shmq_remote_is_url(broker)) {
		int rrc = shmq_remote_open(broker, &o, &c->remote);
		if (rrc < 0)
			free(c);
		else
			*out = c;
		return rrc;
	}
	c->request_timeout_ns = o.request_timeout_ns ? o.request_timeout_ns : 5000000000ull;
	c->reconnect_timeout_ns = o.reconnect_timeout_ns ? o.reconnect_timeout_ns : 30000000000ull;
	int rc = 0;
	if (o.group && o.group[0] && shmq_ctl_name_set(c->group, o.group, true) < 0)
		rc = -EINVAL;
	if (rc == 0) {
		if (broker && broker[0]) {
			if (!strchr(broker, '/'))
				rc = -EINVAL; /* broker names need a registry: not in this release */
			else if (strlen(broker) >= sizeof(c->path))
				rc = -ENAMETOOLONG;
			else
				strcpy(c->path, broker);
		} else {
			rc = default_socket_path(c->path, sizeof(c->path));
		}
	}
	if (rc == 0)
		rc = pthread_mutex_init(&c->lock, NULL) ? -ENOMEM : 0;
	if (rc < 0) {
		free(c);
		return rc;
	}
	/* uniqueness of request ids across reconnects is not needed (a new
	 * socket has no stale answers), but a random start helps reading logs */
	c->next_request_id = ((uint64_t)getpid() << 32);
	pthread_mutex_lock(&c->lock);
	rc = connect_once_locked(c);
	pthread_mutex_unlock(&c->lock);
	if (rc < 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

SHMQ_API void shmq_client_close(shmq_client_t *c)
{
	if (!c)
		return;
	if (c->remote) {
		shmq_remote_close(c->remote);
		free(c);
		return;
	}
	if (c->sock >= 0)
		close(c->sock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

SHMQ_API uint32_t shmq_client_broker_id(const shmq_client_t *c)
{
	return c ? shmq_cli_broker_id((shmq_client_t *)c) : 0;
}

SHMQ_API const char *shmq_client_broker_name(const shmq_client_t *c)
{
	/* written under the lock at each HELLO; the same broker keeps its name */
	return c ? c->broker_name : "";
}

static void topic_info_out(const struct shmq_ctl_topic_info *ti, struct shmq_topic_info *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	memcpy(out->name, ti->topic, sizeof(out->name) < sizeof(ti->topic) ? sizeof(out->name) : sizeof(ti->topic));
	out->name[sizeof(out->name) - 1] = '\0';
	out->queues = ti->queues;
	out->created_ns = ti->created_ns;
}

SHMQ_API int shmq_topic_create(shmq_client_t *c, const char *topic, uint32_t queues,
			       struct shmq_topic_info *out)
{
	if (!c || !topic || queues == 0 || queues > SHMQ_CTL_QUEUES_MAX)
		return -EINVAL;
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_TOPIC_CREATE, 0, 0);
	int rc = shmq_ctl_name_set(req->u.topic_create_req.topic, topic, false);
	req->u.topic_create_req.queues = queues;
	if (rc == 0)
		rc = shmq_cli_request(c, req, resp, NULL);
	if (rc == 0) {
		topic_info_out(&resp->u.topic_info, out);
		if (resp->u.topic_info.queues != queues)
			rc = -EEXIST;
	} else if (rc == -EEXIST && out) {
		/* tell the caller what exists */
		int rc2 = shmq_topic_describe(c, topic, out);
		if (rc2 < 0)
			memset(out, 0, sizeof(*out));
	}
	free(req);
	return rc;
}

SHMQ_API int shmq_topic_describe(shmq_client_t *c, const char *topic, struct shmq_topic_info *out)
{
	if (!c || !topic)
		return -EINVAL;
	struct shmq_ctl_msg *req = malloc(2 * sizeof(*req));
	if (!req)
		return -ENOMEM;
	struct shmq_ctl_msg *resp = req + 1;
	shmq_ctl_msg_init(req, SHMQ_CTL_TOPIC_DESCRIBE, 0, 0);
	int rc = shmq_ctl_name_set(req->u.topic_describe_req.topic, topic, false);
	if (rc == 0)
		rc = shmq_cli_request(c, req, resp, NULL);
	if (rc == 0)
		topic_info_out(&resp->u.topic_info, out);
	free(req);
	return rc;
}
