/* SPDX-License-Identifier: Apache-2.0 */
/* Per-topic ACL: see broker/acl.h for the decision order. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/acl.h"
#include "common/ctl_codec.h"
#include "common/errbuf.h"
#include "common/strnum.h"

enum who { WHO_UID, WHO_GID, WHO_ANY };

struct acl_entry {
	enum who who;
	uint32_t id;
	unsigned rights;
};

struct acl_rule {
	char pattern[SHMQ_CTL_NAME_LEN + 1]; /* as written, '*' included */
	size_t plen;                         /* bytes to compare (prefix without '*') */
	bool prefix;
	unsigned nentries;
	struct acl_entry entries[SHMQ_ACL_MAX_ENTRIES];
};

struct shmq_acl {
	unsigned default_rights;
	uid_t owner;
	size_t nrules, cap;
	struct acl_rule *rules;
};


int shmq_acl_create(shmq_acl_t **out, unsigned default_rights, uid_t owner_uid)
{
	if (!out || (default_rights & ~SHMQ_ACL_ALL))
		return -EINVAL;
	shmq_acl_t *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->default_rights = default_rights;
	a->owner = owner_uid;
	*out = a;
	return 0;
}

void shmq_acl_destroy(shmq_acl_t *acl)
{
	if (!acl)
		return;
	free(acl->rules);
	free(acl);
}

size_t shmq_acl_count(const shmq_acl_t *acl)
{
	return acl ? acl->nrules : 0;
}

int shmq_acl_parse_rights(const char *s)
{
	unsigned r = 0;

	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "-") == 0 || strcmp(s, "none") == 0)
		return 0;
	for (; *s; s++) {
		unsigned bit = *s == 'p' ? SHMQ_ACL_PRODUCE : *s == 'c' ? SHMQ_ACL_CONSUME
				   : *s == 'a' ? SHMQ_ACL_ADMIN : 0;
		if (!bit || (r & bit))
			return -EINVAL; /* unknown letter or repeated */
		r |= bit;
	}
	return (int)r;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	/* (uid_t)-1 means "no id" to the kernel: never a valid principal */
	if (shmq_parse_u64(s, &v) < 0 || v >= UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

/* One `uid:N:R`, `gid:N:R` or `any:R` entry. */
static int parse_entry(char *tok, struct acl_entry *e, char *err, size_t errlen)
{
	char *f1 = tok, *f2 = strchr(tok, ':'), *f3 = NULL;

	if (!f2)
		goto bad;
	*f2++ = '\0';
	if (strcmp(f1, "any") == 0) {
		e->who = WHO_ANY;
		e->id = 0;
		f3 = f2;
	} else {
		if (strcmp(f1, "uid") == 0)
			e->who = WHO_UID;
		else if (strcmp(f1, "gid") == 0)
			e->who = WHO_GID;
		else
			goto bad;
		f3 = strchr(f2, ':');
		if (!f3)
			goto bad;
		*f3++ = '\0';
		if (parse_id(f2, &e->id) < 0) {
			shmq_errbuf_set(err, errlen, "bad %s number '%s'", f1, f2);
			return -EINVAL;
		}
	}
	int r = shmq_acl_parse_rights(f3);
	if (r < 0) {
		shmq_errbuf_set(err, errlen, "bad rights '%s' (a subset of 'pca', or '-')", f3);
		return -EINVAL;
	}
	e->rights = (unsigned)r;
	return 0;
bad:
	shmq_errbuf_set(err, errlen, "bad entry '%s' (expected uid:N:RIGHTS, gid:N:RIGHTS or any:RIGHTS)", tok);
	return -EINVAL;
}

int shmq_acl_add(shmq_acl_t *acl, const char *pattern, const char *spec, char *err, size_t errlen)
{
	struct acl_rule rule;
	char buf[4096];

	if (!acl || !pattern || !spec) {
		shmq_errbuf_set(err, errlen, "missing pattern or rule");
		return -EINVAL;
	}
	memset(&rule, 0, sizeof(rule));
	size_t pl = strlen(pattern);
	rule.prefix = pl > 0 && pattern[pl - 1] == '*';
	rule.plen = rule.prefix ? pl - 1 : pl;
	if (rule.plen > SHMQ_CTL_NAME_MAX) {
		shmq_errbuf_set(err, errlen, "topic pattern longer than %u bytes", SHMQ_CTL_NAME_MAX);
		return -EINVAL;
	}
	memcpy(rule.pattern, pattern, pl);
	/* the prefix part must itself be a (possibly empty, for `*`) name */
	char head[SHMQ_CTL_NAME_LEN];
	memcpy(head, pattern, rule.plen);
	head[rule.plen] = '\0';
	if ((rule.plen > 0 || !rule.prefix) && shmq_ctl_name_check(head) < 0) {
		shmq_errbuf_set(err, errlen, "bad topic pattern '%s' (a topic name of [A-Za-z0-9_.%%|-], optionally ending in '*')",
			pattern);
		return -EINVAL;
	}
	for (size_t i = 0; i < acl->nrules; i++)
		if (strcmp(acl->rules[i].pattern, pattern) == 0) {
			shmq_errbuf_set(err, errlen, "duplicate rule for '%s'", pattern);
			return -EEXIST;
		}

	if (strlen(spec) >= sizeof(buf)) {
		shmq_errbuf_set(err, errlen, "rule too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	char *s = trim(buf);
	if (strcmp(s, "none") != 0) {
		char *save = NULL;
		for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (rule.nentries == SHMQ_ACL_MAX_ENTRIES) {
				shmq_errbuf_set(err, errlen, "more than %u entries", SHMQ_ACL_MAX_ENTRIES);
				return -EINVAL;
			}
			int r = parse_entry(trim(tok), &rule.entries[rule.nentries], err, errlen);
			if (r < 0)
				return r;
			rule.nentries++;
		}
		/* strtok_r skips empty fields: "uid:1:p,,x" still fails above; an
		 * empty or all-comma spec ends up with no entries */
		if (rule.nentries == 0) {
			shmq_errbuf_set(err, errlen, "empty rule (write 'none' to grant nothing)");
			return -EINVAL;
		}
	}
	if (acl->nrules == SHMQ_ACL_MAX_RULES) {
		shmq_errbuf_set(err, errlen, "more than %u ACL rules", SHMQ_ACL_MAX_RULES);
		return -ENOSPC;
	}
	if (acl->nrules == acl->cap) {
		size_t ncap = acl->cap ? acl->cap * 2 : 8;
		struct acl_rule *n = realloc(acl->rules, ncap * sizeof(*n));
		if (!n) {
			shmq_errbuf_set(err, errlen, "out of memory");
			return -ENOMEM;
		}
		acl->rules = n;
		acl->cap = ncap;
	}
	acl->rules[acl->nrules++] = rule;
	return 0;
}

int shmq_acl_check(const shmq_acl_t *acl, uid_t uid, gid_t gid, const char *topic, unsigned right)
{
	if (!acl || right == 0 || (right & ~SHMQ_ACL_ALL))
		return -EINVAL;
	int tl = shmq_ctl_name_check(topic);
	if (tl < 0)
		return -EINVAL;
	if (uid == 0 || uid == acl->owner)
		return 0;

	const struct acl_rule *best = NULL;
	for (size_t i = 0; i < acl->nrules; i++) {
		const struct acl_rule *r = &acl->rules[i];
		bool match = r->prefix ? (r->plen <= (size_t)tl && memcmp(r->pattern, topic, r->plen) == 0)
				       : (r->plen == (size_t)tl && memcmp(r->pattern, topic, r->plen) == 0);
		if (!match)
			continue;
		if (!r->prefix) {
			best = r; /* exact: nothing is more specific (patterns are unique) */
			break;
		}
		if (!best || r->plen > best->plen)
			best = r;
	}
	unsigned granted = 0;
	if (!best) {
		granted = acl->default_rights;
	} else {
		for (unsigned i = 0; i < best->nentries; i++) {
			const struct acl_entry *e = &best->entries[i];
			if (e->who == WHO_ANY || (e->who == WHO_UID && e->id == (uint32_t)uid) ||
			    (e->who == WHO_GID && e->id == (uint32_t)gid))
				granted |= e->rights;
		}
	}
	return (granted & right) == right ? 0 : -EACCES;
}
