/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A remote client's settings and its sessions (client/remote.h, RM1-RM3):
 * address, principal, secret; one backend + auth + endpoint client per
 * session (dpdk://: a virtual backend of the process's one DPDK port,
 * client/remote_mux.h); a request retried across new sessions until it is
 * answered; the control protocol over ADMIN (shmq_remote_ctl_call()) and
 * the broker id it tells (shmq_remote_broker_id(): STATUS, once per client).
 */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "client/remote_mux.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "dpdk_net/auth.h"
#include "dpdk_net/udp_backend.h"

struct shmq_remote {
	struct shmq_net_addr server;
	char principal[SHMQ_NET_PRINCIPAL_LEN];
	uint8_t secret[SHMQ_NET_SECRET_MAX];
	size_t secret_len;
	uint32_t frame_max;
	uint64_t request_timeout_ns;
	uint64_t reconnect_timeout_ns;
	bool dpdk;                  /* holds a reference on the shared port */
	pthread_mutex_t lock;       /* guards the loss hook */
	shmq_net_loss_fn loss;
	void *loss_ctx;
	/* ADMIN (shmq_remote_ctl_call): one session for the client's control
	 * requests, made at the first one and kept until close */
	pthread_mutex_t admin_mu;   /* one ADMIN at a time; guards the fields below */
	bool admin_ready;           /* admin is a session (shmq_rconn_init done) */
	struct shmq_rconn admin;
	uint64_t next_ctl_id;
	uint8_t *admin_buf;         /* SHMQ_CTL_MSG_MAX: the encoded request */
	/* BROKER_ID_KNOWN | the broker id once a STATUS told it; 0 before.
	 * One word, so a reader sees the flag and the id together. */
	_Atomic uint64_t broker_id;
};

#define BROKER_ID_KNOWN (1ull << 32)

bool shmq_remote_is_url(const char *broker)
{
	return broker && (strncmp(broker, "udp://", 6) == 0 || strncmp(broker, "dpdk://", 7) == 0);
}

/* A principal is a name of the local protocol's charset, < 64 bytes. */
static int principal_set(char *dst, const char *src)
{
	int n = shmq_ctl_name_check(src);
	if (n < 0 || (size_t)n >= SHMQ_NET_PRINCIPAL_LEN)
		return -EINVAL;
	memset(dst, 0, SHMQ_NET_PRINCIPAL_LEN);
	memcpy(dst, src, (size_t)n);
	return 0;
}

static int default_principal(char *dst)
{
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && principal_set(dst, res->pw_name) == 0)
		return 0;
	char uid[32];
	snprintf(uid, sizeof(uid), "uid%u", (unsigned)geteuid());
	return principal_set(dst, uid);
}

/* The secret file is read as the broker reads its own (dpdk_net/auth.h). */
static int read_secret(struct shmq_remote *r, const char *path)
{
	char why[512];
	int rc = shmq_net_secret_read(path, r->secret, &r->secret_len, why, sizeof(why));

	if (rc < 0)
		shmq_cli_set_error("remote: %s", why);
	return rc;
}

static void remote_free(struct shmq_remote *r)
{
	if (r->admin_ready)
		shmq_rconn_fini(&r->admin); /* before the DPDK port it may use goes */
	free(r->admin_buf);
	sodium_memzero(r->secret, sizeof(r->secret));
	if (r->dpdk)
		shmq_rmux_release();
	pthread_mutex_destroy(&r->admin_mu);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int shmq_remote_open(const char *url, const struct shmq_client_opts *o, struct shmq_remote **out)
{
	*out = NULL;
	bool dpdk = strncmp(url, "dpdk://", 7) == 0;
	char udp_url[300];
	if (dpdk) {
		/* the broker's address is written the same way for both */
		if (snprintf(udp_url, sizeof(udp_url), "udp://%s", url + 7) >= (int)sizeof(udp_url))
			return -EINVAL;
		url = udp_url;
	}
	struct shmq_remote *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->admin_mu, NULL);
	/* ids only have to differ within the admin session; a per-process
	 * start helps reading the broker's logs */
	r->next_ctl_id = (uint64_t)getpid() << 32;
	r->request_timeout_ns = o->request_timeout_ns ? o->request_timeout_ns : 5000000000ull;
	r->reconnect_timeout_ns = o->reconnect_timeout_ns ? o->reconnect_timeout_ns : 30000000000ull;
	r->frame_max = o->frame_max ? o->frame_max : 1472u;
	int rc = shmq_net_udp_parse(url, &r->server);
	if (rc < 0)
		shmq_cli_set_error("remote: bad address %s (udp://host:port or dpdk://ip:port)", url);
	if (rc == 0 && shmq_net_frag_size(r->frame_max) == 0)
		rc = -EINVAL;
	if (rc == 0 && dpdk) {
		/* every session of this process shares one DPDK port (RM1) */
		rc = shmq_rmux_acquire(o->dpdk_args, o->dpdk_ip, r->frame_max);
		if (rc < 0)
			shmq_cli_set_error("remote: cannot open the DPDK port (opts.dpdk_ip %s, dpdk_args %s): %d",
					   o->dpdk_ip ? o->dpdk_ip : "(none)", o->dpdk_args ? o->dpdk_args : "(none)",
					   rc);
		r->dpdk = rc == 0;
	}
	if (rc == 0)
		rc = o->principal ? principal_set(r->principal, o->principal) : default_principal(r->principal);
	const char *sf = o->secret_file ? o->secret_file : getenv("SHMQ_SECRET_FILE");
	if (rc == 0 && (!sf || !sf[0])) {
		shmq_cli_set_error("remote: no secret file (opts.secret_file or SHMQ_SECRET_FILE)");
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = read_secret(r, sf);
	if (rc == 0) {
		/* prove address and secret now, as a local open proves the socket */
		struct shmq_rconn k;
		rc = shmq_rconn_init(r, &k);
		shmq_rconn_fini(&k);
	}
	if (rc < 0) {
		remote_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void shmq_remote_close(struct shmq_remote *r)
{
	if (r)
		remote_free(r);
}

void shmq_remote_set_loss(struct shmq_remote *r, shmq_net_loss_fn fn, void *ctx)
{
	pthread_mutex_lock(&r->lock);
	r->loss = fn;
	r->loss_ctx = ctx;
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

/* A new session: HELLO retried for up to request_timeout_ns. */
static int rconn_connect(struct shmq_rconn *k)
{
	struct shmq_remote *r = k->r;
	SHMQ_NET_CLIENT_OPTS(co, .principal = r->principal);
	co.retry.sz = sizeof(co.retry);
	/* a request's retries cover the longest long-poll plus the time the
	 * broker has to answer; past that the session is presumed lost (RM2) */
	co.retry.deadline_ns = r->request_timeout_ns + SHMQ_REMOTE_LONGPOLL_MAX_NS;
	co.retry.rto_initial_ns = 10000000ull;
	co.retry.rto_max_ns = 250000000ull;
	int rc = shmq_net_client_connect(k->be, &r->server, k->auth, &co, &k->cl);
	if (rc == 0 && k->sessions++ > 0)
		k->reconnects++;
	return rc;
}

int shmq_rconn_init(struct shmq_remote *r, struct shmq_rconn *k)
{
	memset(k, 0, sizeof(*k));
	k->r = r;
	SHMQ_NET_UDP_OPTS(uo, .frame_max = r->frame_max);
	int rc = r->dpdk ? shmq_rmux_open(r->frame_max, &k->be) : shmq_net_udp_open("udp://0.0.0.0:0", &uo, &k->be);
	if (rc == 0) {
		pthread_mutex_lock(&r->lock);
		shmq_net_set_loss(k->be, r->loss, r->loss_ctx);
		pthread_mutex_unlock(&r->lock);
		rc = shmq_net_auth_create(r->secret, r->secret_len, NULL, &k->auth);
	}
	if (rc == 0)
		rc = rconn_connect(k);
	if (rc == -ETIMEDOUT)
		shmq_cli_set_error("remote: no HELLO_ACK from the broker (not there, or it refused our secret)");
	return rc;
}

void shmq_rconn_fini(struct shmq_rconn *k)
{
	shmq_net_client_close(k->cl);
	shmq_net_auth_destroy(k->auth);
	shmq_net_backend_destroy(k->be);
	k->cl = NULL;
	k->auth = NULL;
	k->be = NULL;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

int shmq_rconn_call(struct shmq_rconn *k, uint16_t type, const void *body, uint32_t len, uint16_t want,
		    const uint8_t **resp, uint32_t *resp_len)
{
	uint64_t give_up = 0; /* set at the first failure */
	for (;;) {
		int rc = k->cl ? 0 : rconn_connect(k);
		uint16_t rt = 0;
		if (rc == 0)
			rc = shmq_net_client_call(k->cl, type, body, len, &rt, resp, resp_len);
		if (rc == 0) {
			if (rt == SHMQ_NET_ERROR) {
				struct shmq_net_error e;
				memcpy(&e, *resp, sizeof(e)); /* body-checked: exactly this size */
				e.message[sizeof(e.message) - 1] = '\0';
				shmq_cli_set_error("%s", e.message);
				return e.status;
			}
			return rt == want ? 0 : -EBADMSG;
		}
		if (rc != -ETIMEDOUT)
			return rc;
		/* RM2: the session is gone (or the broker is down): a new one */
		shmq_net_client_close(k->cl);
		k->cl = NULL;
		uint64_t now = shmq_now_ns();
		if (!give_up)
			give_up = now + k->r->reconnect_timeout_ns;
		if (now >= give_up) {
			shmq_cli_set_error("remote: no answer from the broker");
			return -ETIMEDOUT;
		}
		sleep_ns(10000000ull); /* a restarting broker needs a moment */
	}
}

/* ------------------------------------------------------------------ */
/* ADMIN: the control protocol over the network                        */

/* Under admin_mu: the admin session, made once. */
static int admin_session(struct shmq_remote *r)
{
	if (!r->admin_buf && !(r->admin_buf = malloc(SHMQ_CTL_MSG_MAX)))
		return -ENOMEM;
	if (r->admin_ready)
		return 0;
	int rc = shmq_rconn_init(r, &r->admin);
	if (rc < 0) {
		shmq_rconn_fini(&r->admin);
		return rc;
	}
	r->admin_ready = true;
	return 0;
}

int shmq_remote_ctl_call(struct shmq_remote *r, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	pthread_mutex_lock(&r->admin_mu);
	int rc = admin_session(r);
	const uint8_t *body = NULL;
	uint32_t blen = 0;
	if (rc == 0) {
		req->request_id = ++r->next_ctl_id;
		req->flags = 0;
		int n = shmq_ctl_encode(req, r->admin_buf, SHMQ_CTL_MSG_MAX);
		rc = n < 0 ? n
			   : shmq_rconn_call(&r->admin, SHMQ_NET_ADMIN, r->admin_buf, (uint32_t)n,
					     SHMQ_NET_ADMIN_RESP, &body, &blen);
	}
	/* the frame codec checked the envelope only: decode the whole message
	 * (and it must answer this request) before the caller reads a field */
	if (rc == 0 && (shmq_ctl_decode(body, blen, resp) < 0 || resp->request_id != req->request_id ||
			!(resp->flags & SHMQ_CTL_F_RESPONSE))) {
		shmq_cli_set_error("remote: malformed ADMIN answer");
		rc = -EBADMSG;
	}
	pthread_mutex_unlock(&r->admin_mu);
	return rc;
}

int shmq_remote_broker_id(struct shmq_remote *r, uint32_t *id)
{
	/* relaxed: the word carries the id itself; nothing else is published */
	uint64_t w = shmq_load_relaxed(&r->broker_id);
	if (w & BROKER_ID_KNOWN) {
		*id = (uint32_t)w;
		return 0;
	}
	/* HELLO's answer is the local protocol's only other source, and the
	 * network HELLO is not that one: STATUS over ADMIN tells it. Two
	 * threads may both ask at first; they store the same value. */
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m)); /* ~33 KiB each */
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_STATUS, 0, 0);
	int rc = shmq_remote_ctl_call(r, &m[0], &m[1]);
	if (rc == 0 && m[1].type == SHMQ_CTL_ERROR) {
		shmq_cli_set_error("%s", m[1].u.error.message);
		rc = m[1].u.error.status;
	} else if (rc == 0 && m[1].type != SHMQ_CTL_STATUS) {
		rc = -EBADMSG;
	}
	if (rc == 0) {
		*id = m[1].u.status_resp.broker_id;
		/* relaxed: see the load above */
		shmq_store_relaxed(&r->broker_id, BROKER_ID_KNOWN | *id);
	}
	free(m);
	return rc;
}
