/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/acl.h
 * @brief Per-topic access rules by uid/gid: who may produce, consume, admin.
 *
 * Identities come only from SO_PEERCRED (uid and primary gid of the peer at
 * connect time); supplementary groups are not seen.
 *
 * Decision for (uid, gid, topic, right), in this order:
 *  1. uid 0 and the broker's own uid are always allowed: both can open the
 *     ring files (0600, owned by the broker) directly, so refusing them
 *     would only pretend to protect anything.
 *  2. The most specific rule whose pattern matches the topic decides alone:
 *     an exact pattern beats any prefix pattern, a longer prefix (`orders.*`)
 *     beats a shorter one (`ord*`, `*`). The rights granted are the union of
 *     its entries that match the client (`uid:N`, `gid:N` or `any`); a
 *     matching rule that grants nothing denies (rules never fall through to
 *     less specific ones, so a narrow rule can lock a topic down).
 *  3. No rule matches: the default rights (shmq_acl_create(); the broker
 *     config's default is none, i.e. only root and the broker's uid).
 *
 * Rule syntax (the [acl] section of the config: `pattern = spec`):
 *   pattern: a topic name, or a name prefix followed by `*` (`*` alone
 *            matches every topic);
 *   spec:    comma-separated entries `uid:N:R`, `gid:N:R` or `any:R`, where R
 *            is a non-empty subset of `pca` (produce, consume, admin) or `-`
 *            (nothing); or the single word `none`.
 *
 * Concurrency: shmq_acl_add() must not run concurrently with anything else
 * on the same object; shmq_acl_check() is read-only and may run from any
 * number of threads at once. The broker builds a new object on reload.
 */
#ifndef SHMQ_BROKER_ACL_H
#define SHMQ_BROKER_ACL_H

#include <stddef.h>
#include <sys/types.h>

enum shmq_acl_right {
	SHMQ_ACL_PRODUCE = 1u << 0,
	SHMQ_ACL_CONSUME = 1u << 1,
	SHMQ_ACL_ADMIN = 1u << 2,
	SHMQ_ACL_ALL = 7u,
};

#define SHMQ_ACL_MAX_RULES   4096u
#define SHMQ_ACL_MAX_ENTRIES 64u

typedef struct shmq_acl shmq_acl_t;

/**
 * @param default_rights rights granted when no rule matches (0 = none).
 * @param owner_uid the broker's own uid (always allowed).
 * @return 0, -EINVAL, -ENOMEM.
 */
int shmq_acl_create(shmq_acl_t **out, unsigned default_rights, uid_t owner_uid);
void shmq_acl_destroy(shmq_acl_t *acl);

/**
 * @brief Add the rule `pattern = spec`.
 * @param err if not NULL, receives a one-line reason on failure.
 * @return 0; -EINVAL (bad pattern or spec); -EEXIST (pattern already has a
 *         rule); -ENOSPC (SHMQ_ACL_MAX_RULES); -ENOMEM.
 */
int shmq_acl_add(shmq_acl_t *acl, const char *pattern, const char *spec, char *err,
		 size_t errlen);

/**
 * @brief May (uid, gid) exercise @p right (one SHMQ_ACL_* bit or several,
 *        all required) on @p topic?
 * @return 0 if allowed, -EACCES if not, -EINVAL for a bad right or topic.
 */
int shmq_acl_check(const shmq_acl_t *acl, uid_t uid, gid_t gid, const char *topic,
		   unsigned right);

/**
 * @brief Parse a rights string: a non-empty subset of "pca", "-" or "none".
 * @return the SHMQ_ACL_* bits (0 for "-"/"none"), or -EINVAL.
 */
int shmq_acl_parse_rights(const char *s);

/** @brief Number of rules. */
size_t shmq_acl_count(const shmq_acl_t *acl);

#endif
