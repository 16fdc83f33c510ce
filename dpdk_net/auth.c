/* SPDX-License-Identifier: Apache-2.0 */
/* Shared-secret session authentication: see dpdk_net/auth.h. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ctl_codec.h"
#include "common/errbuf.h"
#include "dpdk_net/auth.h"
#include "shmq/error.h"

static const char HELLO_LABEL[] = "shmq-hello-v1";
static const char ACK_LABEL[] = "shmq-hello-ack-v1";

struct nonce_entry {
	uint8_t nonce[SHMQ_NET_NONCE_LEN];
	uint64_t ts;
	int used;
};

struct shmq_net_auth {
	uint8_t key[crypto_auth_hmacsha256_KEYBYTES];
	struct shmq_net_auth_opts o;
	struct shmq_net_auth_stats st;
	uint64_t floor_ts;      /* HELLOs with timestamp <= floor are refused */
	uint32_t next;          /* ring position of the next insert */
	struct nonce_entry seen[];
};

int shmq_net_auth_create(const void *secret, size_t secret_len, const struct shmq_net_auth_opts *opts,
			 struct shmq_net_auth **out)
{
	struct shmq_net_auth_opts o = { .sz = sizeof(o) };
	if (!out || !secret || secret_len < SHMQ_NET_SECRET_MIN || secret_len > SHMQ_NET_SECRET_MAX ||
	    (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	if (opts)
		o = *opts;
	if (o.skew_ns == 0)
		o.skew_ns = 30ull * 1000000000ull;
	if (o.session_ttl_ns == 0)
		o.session_ttl_ns = 3600ull * 1000000000ull;
	if (o.replay_slots == 0)
		o.replay_slots = 4096;
	if (o.replay_slots > (1u << 20))
		return -EINVAL;
	struct shmq_net_auth *a = calloc(1, sizeof(*a) + o.replay_slots * sizeof(struct nonce_entry));
	if (!a)
		return -ENOMEM;
	a->o = o;
	/* HMAC-SHA256 takes any key length; we pad/hash it to the 32-byte key
	 * size libsodium's fixed-key API wants: SHA-256 of the secret. */
	crypto_hash_sha256(a->key, secret, secret_len);
	*out = a;
	return 0;
}

void shmq_net_auth_destroy(struct shmq_net_auth *a)
{
	if (!a)
		return;
	sodium_memzero(a->key, sizeof(a->key));
	free(a);
}

static void mac(const struct shmq_net_auth *a, const char *label, size_t label_len, const void *data,
		size_t len, uint8_t out[SHMQ_NET_MAC_LEN])
{
	crypto_auth_hmacsha256_state s;
	crypto_auth_hmacsha256_init(&s, a->key, sizeof(a->key));
	crypto_auth_hmacsha256_update(&s, (const unsigned char *)label, label_len);
	crypto_auth_hmacsha256_update(&s, data, len);
	crypto_auth_hmacsha256_final(&s, out);
	sodium_memzero(&s, sizeof(s));
}

int shmq_net_auth_hello(struct shmq_net_auth *a, const char *principal, uint32_t frame_max,
			uint64_t now_real_ns, struct shmq_net_hello *h)
{
	int n = shmq_ctl_name_check(principal);
	if (n < 0 || (size_t)n >= SHMQ_NET_PRINCIPAL_LEN || frame_max < SHMQ_NET_FRAME_MIN ||
	    frame_max > SHMQ_NET_FRAME_MAX)
		return -EINVAL;
	memset(h, 0, sizeof(*h));
	randombytes_buf(h->client_nonce, sizeof(h->client_nonce));
	h->timestamp_ns = now_real_ns;
	h->client_version = SHMQ_NET_VERSION;
	h->frame_max = frame_max;
	memcpy(h->principal, principal, (size_t)n);
	mac(a, HELLO_LABEL, sizeof(HELLO_LABEL) - 1, h, offsetof(struct shmq_net_hello, mac), h->mac);
	return 0;
}

static struct nonce_entry *seen_find(struct shmq_net_auth *a, const uint8_t *nonce)
{
	for (uint32_t i = 0; i < a->o.replay_slots; i++)
		if (a->seen[i].used && sodium_memcmp(a->seen[i].nonce, nonce, SHMQ_NET_NONCE_LEN) == 0)
			return &a->seen[i];
	return NULL;
}

void shmq_net_auth_refuse_before(struct shmq_net_auth *a, uint64_t ts_ns)
{
	if (a && ts_ns > a->floor_ts)
		a->floor_ts = ts_ns;
}

int shmq_net_auth_check_hello(struct shmq_net_auth *a, const struct shmq_net_hello *h,
			      uint64_t now_real_ns)
{
	uint8_t want[SHMQ_NET_MAC_LEN];
	mac(a, HELLO_LABEL, sizeof(HELLO_LABEL) - 1, h, offsetof(struct shmq_net_hello, mac), want);
	if (sodium_memcmp(want, h->mac, sizeof(want)) != 0) {
		a->st.bad_mac++;
		return SHMQ_EAUTH;
	}
	uint64_t ts = h->timestamp_ns;
	uint64_t d = ts > now_real_ns ? ts - now_real_ns : now_real_ns - ts;
	if (d > a->o.skew_ns || ts <= a->floor_ts) {
		a->st.stale++;
		return SHMQ_EREPLAY;
	}
	if (seen_find(a, h->client_nonce)) {
		a->st.replayed++;
		return SHMQ_EREPLAY;
	}
	/* remember it; an overwritten nonce raises the floor past its time so
	 * it stays refused (see auth.h) */
	struct nonce_entry *e = &a->seen[a->next];
	if (e->used && e->ts > a->floor_ts)
		a->floor_ts = e->ts;
	memcpy(e->nonce, h->client_nonce, SHMQ_NET_NONCE_LEN);
	e->ts = ts;
	e->used = 1;
	a->next = (a->next + 1) % a->o.replay_slots;
	a->st.accepted++;
	return 0;
}

uint64_t shmq_net_auth_ack(struct shmq_net_auth *a, const struct shmq_net_hello *h, uint64_t session_id,
			   uint32_t frame_max, uint64_t now_real_ns, struct shmq_net_hello_ack *ack)
{
	memset(ack, 0, sizeof(*ack));
	randombytes_buf(ack->server_nonce, sizeof(ack->server_nonce));
	memcpy(ack->client_nonce, h->client_nonce, sizeof(ack->client_nonce));
	ack->session_id = session_id;
	ack->expiry_ns = now_real_ns + a->o.session_ttl_ns;
	ack->frame_max = frame_max;
	mac(a, ACK_LABEL, sizeof(ACK_LABEL) - 1, ack, offsetof(struct shmq_net_hello_ack, mac), ack->mac);
	return ack->expiry_ns;
}

int shmq_net_auth_check_ack(struct shmq_net_auth *a, const struct shmq_net_hello *h,
			    const struct shmq_net_hello_ack *ack)
{
	uint8_t want[SHMQ_NET_MAC_LEN];
	mac(a, ACK_LABEL, sizeof(ACK_LABEL) - 1, ack, offsetof(struct shmq_net_hello_ack, mac), want);
	if (sodium_memcmp(want, ack->mac, sizeof(want)) != 0 ||
	    sodium_memcmp(ack->client_nonce, h->client_nonce, SHMQ_NET_NONCE_LEN) != 0) {
		a->st.bad_mac++;
		return SHMQ_EAUTH;
	}
	a->st.accepted++;
	return 0;
}

uint64_t shmq_net_random_u64(void)
{
	uint64_t v;
	if (sodium_init() < 0)
		abort(); /* cannot happen after a successful shmq_net_auth_create() */
	do
		randombytes_buf(&v, sizeof(v));
	while (v == 0);
	return v;
}

void shmq_net_auth_stats(const struct shmq_net_auth *a, struct shmq_net_auth_stats *st)
{
	*st = a->st;
}

int shmq_net_secret_read(const char *path, uint8_t *out, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;
		shmq_errbuf_set(err, errlen, "secret file %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		shmq_errbuf_set(err, errlen, "secret file %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		close(fd);
		shmq_errbuf_set(err, errlen, "secret file %s: readable or writable by others (mode %03o): refused",
				path, (unsigned)(st.st_mode & 0777));
		return -EPERM;
	}
	uint8_t buf[SHMQ_NET_SECRET_MAX + 3];
	ssize_t n = read(fd, buf, sizeof(buf));
	int e = errno;
	close(fd);
	if (n < 0) {
		shmq_errbuf_set(err, errlen, "secret file %s: %s", path, strerror(e));
		return -e;
	}
	size_t l = (size_t)n;
	if (l && buf[l - 1] == '\n')
		l--;
	if (l && buf[l - 1] == '\r')
		l--;
	if (l < SHMQ_NET_SECRET_MIN || l > SHMQ_NET_SECRET_MAX) {
		sodium_memzero(buf, sizeof(buf));
		shmq_errbuf_set(err, errlen, "secret file %s: the secret must be %u..%u bytes", path,
				SHMQ_NET_SECRET_MIN, SHMQ_NET_SECRET_MAX);
		return -EINVAL;
	}
	memcpy(out, buf, l);
	*len = l;
	sodium_memzero(buf, sizeof(buf));
	return 0;
}
