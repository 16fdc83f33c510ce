/* SPDX-License-Identifier: Apache-2.0 */
/* shmqd configuration: see broker/config.h. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <iniparser.h>

#include "broker/config.h"
#include "broker/log.h"
#include "common/ctl_codec.h"
#include "common/errbuf.h"
#include "common/strnum.h"

#ifndef SHMQ_VERSION
#define SHMQ_VERSION "unknown"
#endif

enum opt_type {
	OPT_NAME,   /* char[128], topic-name charset */
	OPT_PATH,   /* char[SHMQ_CONFIG_PATH_MAX]; "" = derived */
	OPT_U32,    /* uint32_t, decimal */
	OPT_U64,    /* uint64_t, decimal */
	OPT_SIZE,   /* uint64_t, bytes with optional K/M/G/T (binary) suffix */
	OPT_BOOL,   /* bool: true/false/yes/no/on/off/1/0 */
	OPT_FLUSH,  /* int: async|sync */
	OPT_LEVEL,  /* int: error|warn|info|debug */
	OPT_RIGHTS, /* unsigned: subset of pca, or none */
};

struct opt_def {
	const char *section;
	const char *key;
	const char *flag; /* long command-line flag, without "--" */
	enum opt_type type;
	size_t offset;
	uint64_t min, max; /* numeric types */
	const char *def;   /* the embedded default, in file syntax */
	const char *help;
};

#define OFF(f) offsetof(struct shmq_broker_config, f)
#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

/* THE option table: the parser, the defaults and --help all read it. */
static const struct opt_def opts[] = {
	{ "broker", "name", "broker-name", OPT_NAME, OFF(broker_name), 0, 0, "shmqd",
	  "broker name (1..127 of [A-Za-z0-9_.%|-])" },
	{ "broker", "id", "broker-id", OPT_U32, OFF(broker_id), 0, UINT32_MAX - 1, "0",
	  "broker id, encoded in message ids" },
	{ "broker", "acl_default", "acl-default", OPT_RIGHTS, OFF(acl_default_rights), 0, 0, "none",
	  "rights (subset of pca, or none) for topics no [acl] rule matches; root and the broker's uid always have all" },
	{ "broker", "shutdown_drain_ms", "shutdown-drain-ms", OPT_U64, OFF(shutdown_drain_ms), 0,
	  600000, "5000",
	  "on SIGTERM, wait up to this long for the persister to drain the rings" },
	{ "paths", "base_dir", "base-dir", OPT_PATH, OFF(base_dir), 0, 0, "",
	  "base directory (default $XDG_RUNTIME_DIR/shmq, else /tmp/shmq-<uid>)" },
	{ "paths", "store_dir", "store-dir", OPT_PATH, OFF(store_dir), 0, 0, "",
	  "commitlog/consumequeue/index/config directory (default <base_dir>/store)" },
	{ "paths", "ring_dir", "ring-dir", OPT_PATH, OFF(ring_dir), 0, 0, "",
	  "ring files, best on tmpfs (default <base_dir>/rings)" },
	{ "paths", "control_socket", "control-socket", OPT_PATH, OFF(control_socket), 0, 0, "",
	  "unix control socket (default <base_dir>/shmqd.sock)" },
	{ "paths", "pid_file", "pid-file", OPT_PATH, OFF(pid_file), 0, 0, "",
	  "write the broker's pid here while it runs (default: none)" },
	{ "store", "segment_size", "segment-size", OPT_SIZE, OFF(segment_size), 64 * KiB, TiB, "1G",
	  "commitlog segment size, multiple of 4 KiB" },
	{ "store", "max_message_size", "max-message-size", OPT_SIZE, OFF(max_message_size), 1,
	  512 * MiB, "1M", "largest message, <= segment_size/2 and <= ring capacity/4" },
	{ "store", "flush_mode", "flush-mode", OPT_FLUSH, OFF(flush_mode), 0, 0, "async",
	  "async (flush every interval) or sync (group commit before acknowledging)" },
	{ "store", "flush_interval_ms", "flush-interval-ms", OPT_U64, OFF(flush_interval_ms), 1,
	  60000, "500", "async flush period in ms" },
	{ "store", "retention_hours", "retention-hours", OPT_U64, OFF(retention_hours), 1, 87600,
	  "72", "delete commitlog segments older than this" },
	{ "store", "retention_check_interval_ms", "retention-check-interval-ms", OPT_U64,
	  OFF(retention_check_interval_ms), 100, 86400000, "60000",
	  "how often the broker runs retention (age and disk ratio)" },
	{ "store", "disk_max_used_ratio", "disk-max-used-ratio", OPT_U64, OFF(disk_max_used_ratio),
	  10, 95, "75", "percent of the store's file system above which old segments are deleted" },
	{ "ring", "capacity", "ring-capacity", OPT_SIZE, OFF(ring_capacity), 4 * KiB, TiB, "4M",
	  "bytes per queue ring, power of two" },
	{ "ring", "unblock_timeout_ms", "unblock-timeout-ms", OPT_U64, OFF(unblock_timeout_ms), 1,
	  3600000, "1000", "a record reserved longer than this by a stalled producer is padded out" },
	{ "topics", "auto_create", "auto-create-topics", OPT_BOOL, OFF(auto_create_topics), 0, 0,
	  "false", "create unknown topics on first use" },
	{ "topics", "default_queues", "default-queues", OPT_U64, OFF(default_queues), 1, 1024, "4",
	  "queues of an auto-created topic" },
	{ "consumer", "offset_persist_interval_ms", "offset-persist-interval-ms", OPT_U64,
	  OFF(offset_persist_interval_ms), 100, 3600000, "5000",
	  "how often committed consumer offsets are written to disk" },
	{ "consumer", "revoke_timeout_ms", "revoke-timeout-ms", OPT_U64, OFF(revoke_timeout_ms), 10,
	  3600000, "10000",
	  "a live member that does not release a revoked queue within this is forced to" },
	{ "log", "level", "log-level", OPT_LEVEL, OFF(log_level), 0, 0, "info",
	  "error, warn, info or debug" },
	{ "log", "file", "log-file", OPT_PATH, OFF(log_file), 0, 0, "", "log file (default stderr)" },
	{ "net", "listen", "net-listen", OPT_PATH, OFF(net_listen), 0, 0, "",
	  "remote port: udp://IPv4:PORT (kernel sockets) or dpdk://IPv4:PORT (default: none, off)" },
	{ "net", "secret_file", "net-secret-file", OPT_PATH, OFF(net_secret_file), 0, 0, "",
	  "file holding the remote port's shared secret (16..64 bytes, not world-readable)" },
	{ "net", "dpdk_args", "net-dpdk-args", OPT_PATH, OFF(net_dpdk_args), 0, 0, "",
	  "EAL arguments of the DPDK backend (space-separated)" },
	{ "net", "dpdk_ip", "net-dpdk-ip", OPT_PATH, OFF(net_dpdk_ip), 0, 0, "",
	  "IPv4 address the DPDK port answers ARP for (default: the listen address)" },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *const sections[] = { "broker", "paths", "store", "ring", "topics",
					"consumer", "log", "net", "acl" };


static const struct opt_def *find_opt(const char *section, const char *key)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcasecmp(opts[i].section, section) == 0 && strcasecmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

static bool known_section(const char *s)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (strcasecmp(sections[i], s) == 0)
			return true;
	return false;
}

static int parse_size(const char *s, uint64_t *v)
{
	char num[32];
	size_t n = 0;
	uint64_t mult = 1;

	while (isdigit((unsigned char)s[n]))
		n++;
	if (n == 0 || n >= sizeof(num))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(num, s, n);
	num[n] = '\0';
	const char *suf = s + n;
	if (*suf) {
		switch (toupper((unsigned char)*suf)) {
		case 'K': mult = KiB; break;
		case 'M': mult = MiB; break;
		case 'G': mult = GiB; break;
		case 'T': mult = TiB; break;
		default: return -EINVAL;
		}
		suf++;
		if (strcasecmp(suf, "iB") != 0 && strcasecmp(suf, "B") != 0 && *suf)
			return -EINVAL;
	}
	uint64_t x;
	int r = shmq_parse_u64(num, &x);
	if (r < 0)
		return r;
	if (x > UINT64_MAX / mult)
		return -ERANGE;
	*v = x * mult;
	return 0;
}

static int parse_bool(const char *s, bool *b)
{
	static const char *const t[] = { "true", "yes", "on", "1" };
	static const char *const f[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*b = true;
			return 0;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*b = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int apply(struct shmq_broker_config *c, const struct opt_def *o, const char *value,
		 const char *origin, char *err, size_t errlen)
{
	char *field = (char *)c + o->offset;
	uint64_t v = 0;
	int r;

	switch (o->type) {
	case OPT_NAME:
		if (shmq_ctl_name_check(value) < 0) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is not a name (1..%u of [A-Za-z0-9_.%%|-])",
				origin, o->section, o->key, value, SHMQ_CTL_NAME_MAX);
			return -EINVAL;
		}
		snprintf(field, 128, "%s", value);
		return 0;
	case OPT_PATH:
		if (strlen(value) >= SHMQ_CONFIG_PATH_MAX) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: path longer than %d bytes", origin, o->section,
				o->key, SHMQ_CONFIG_PATH_MAX - 1);
			return -EINVAL;
		}
		snprintf(field, SHMQ_CONFIG_PATH_MAX, "%s", value);
		return 0;
	case OPT_BOOL:
		if (parse_bool(value, (bool *)(void *)field) < 0) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is not a boolean (true/false)", origin,
				o->section, o->key, value);
			return -EINVAL;
		}
		return 0;
	case OPT_FLUSH:
		if (strcasecmp(value, "async") == 0)
			*(int *)(void *)field = SHMQ_BROKER_FLUSH_ASYNC;
		else if (strcasecmp(value, "sync") == 0)
			*(int *)(void *)field = SHMQ_BROKER_FLUSH_SYNC;
		else {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is neither async nor sync", origin,
				o->section, o->key, value);
			return -EINVAL;
		}
		return 0;
	case OPT_LEVEL:
		r = shmq_log_level_parse(value);
		if (r < 0) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is not a log level (error, warn, info, debug)",
				origin, o->section, o->key, value);
			return -EINVAL;
		}
		*(int *)(void *)field = r;
		return 0;
	case OPT_RIGHTS:
		r = shmq_acl_parse_rights(value);
		if (r < 0) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is not a set of rights (subset of pca, or none)",
				origin, o->section, o->key, value);
			return -EINVAL;
		}
		*(unsigned *)(void *)field = (unsigned)r;
		return 0;
	case OPT_U32:
	case OPT_U64:
	case OPT_SIZE:
		r = o->type == OPT_SIZE ? parse_size(value, &v) : shmq_parse_u64(value, &v);
		if (r == -EINVAL) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: '%s' is not a %s", origin, o->section, o->key,
				value, o->type == OPT_SIZE ? "size (e.g. 4096, 64K, 16M, 1G)" : "decimal number");
			return -EINVAL;
		}
		if (r < 0 || v < o->min || v > o->max) {
			shmq_errbuf_set(err, errlen, "%s: %s.%s: %s is out of range [%" PRIu64 ", %" PRIu64 "]",
				origin, o->section, o->key, value, o->min, o->max);
			return -EINVAL;
		}
		if (o->type == OPT_U32)
			*(uint32_t *)(void *)field = (uint32_t)v;
		else
			*(uint64_t *)(void *)field = v;
		return 0;
	}
	return -EINVAL;
}

void shmq_broker_config_defaults(struct shmq_broker_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NOPTS; i++) {
		/* the defaults are checked like any value; a bad one is a bug
		 * that test_config catches */
		int r = apply(c, &opts[i], opts[i].def, "default", NULL, 0);
		assert(r == 0);
		(void)r;
	}
}

void shmq_broker_config_free(struct shmq_broker_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nacl; i++) {
		free(c->acl[i].pattern);
		free(c->acl[i].spec);
		free(c->acl[i].origin);
	}
	free(c->acl);
	c->acl = NULL;
	c->nacl = 0;
}

int shmq_broker_config_set(struct shmq_broker_config *c, const char *section, const char *key,
			   const char *value, const char *origin, char *err, size_t errlen)
{
	const struct opt_def *o = find_opt(section, key);

	if (!o) {
		shmq_errbuf_set(err, errlen, "%s: unknown key '%s' in [%s]", origin, key, section);
		return -EINVAL;
	}
	return apply(c, o, value, origin, err, errlen);
}

int shmq_broker_config_add_acl(struct shmq_broker_config *c, const char *pattern,
			       const char *spec, const char *origin, char *err, size_t errlen)
{
	/* check the line alone now, so the error names its origin */
	shmq_acl_t *probe;
	char why[256] = "";
	int r = shmq_acl_create(&probe, 0, 0);
	if (r < 0)
		return r;
	r = shmq_acl_add(probe, pattern, spec, why, sizeof(why));
	shmq_acl_destroy(probe);
	if (r < 0) {
		shmq_errbuf_set(err, errlen, "%s: [acl] %s: %s", origin, pattern, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nacl; i++)
		if (strcmp(c->acl[i].pattern, pattern) == 0) {
			shmq_errbuf_set(err, errlen, "%s: [acl] %s: duplicate pattern (first at %s)", origin,
				pattern, c->acl[i].origin);
			return -EINVAL;
		}
	struct shmq_broker_acl_line *n = realloc(c->acl, (c->nacl + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->acl = n;
	n[c->nacl].pattern = strdup(pattern);
	n[c->nacl].spec = strdup(spec);
	n[c->nacl].origin = strdup(origin);
	if (!n[c->nacl].pattern || !n[c->nacl].spec || !n[c->nacl].origin) {
		free(n[c->nacl].pattern);
		free(n[c->nacl].spec);
		free(n[c->nacl].origin);
		return -ENOMEM;
	}
	c->nacl++;
	return 0;
}

/* ---- INI file ----
 * iniparser gives values, but neither line numbers nor the original case of
 * keys (it lowercases them; ACL topic patterns are case-sensitive). A light
 * line scan of the same file supplies both; every key iniparser holds must
 * be found by the scan, or the file is refused. */

struct scanned_key {
	char section[64];
	char key[SHMQ_CTL_NAME_LEN + 8];
	unsigned line;
};

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int scan_file(const char *path, struct scanned_key **out, size_t *nout, char *err,
		     size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		shmq_errbuf_set(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	struct scanned_key *keys = NULL;
	size_t n = 0, cap = 0;
	char section[64] = "";
	char line[8192];
	unsigned lineno = 0;
	int rc = 0;

	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			shmq_errbuf_set(err, errlen, "%s:%u: line too long", path, lineno);
			rc = -EINVAL;
			break;
		}
		char *s = trim(line);
		if (*s == '\0' || *s == ';' || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close) {
				shmq_errbuf_set(err, errlen, "%s:%u: syntax error: '[' without ']'", path, lineno);
				rc = -EINVAL;
				break;
			}
			*close = '\0';
			char *name = trim(s + 1);
			if (!known_section(name)) {
				shmq_errbuf_set(err, errlen, "%s:%u: unknown section [%s]", path, lineno, name);
				rc = -EINVAL;
				break;
			}
			snprintf(section, sizeof(section), "%s", name);
			for (char *p = section; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			shmq_errbuf_set(err, errlen, "%s:%u: syntax error: expected 'key = value'", path, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		char *key = trim(s);
		if (!*section) {
			shmq_errbuf_set(err, errlen, "%s:%u: key '%s' outside any [section]", path, lineno, key);
			rc = -EINVAL;
			break;
		}
		if (strlen(key) >= sizeof(keys[0].key)) {
			shmq_errbuf_set(err, errlen, "%s:%u: key too long", path, lineno);
			rc = -EINVAL;
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(keys[i].section, section) == 0 && strcasecmp(keys[i].key, key) == 0) {
				shmq_errbuf_set(err, errlen, "%s:%u: duplicate key '%s' in [%s] (first at line %u%s)",
					path, lineno, key, section, keys[i].line,
					strcmp(keys[i].key, key) ? "; keys are case-insensitive" : "");
				rc = -EINVAL;
				break;
			}
		if (rc)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct scanned_key *nk = realloc(keys, cap * sizeof(*nk));
			if (!nk) {
				rc = -ENOMEM;
				break;
			}
			keys = nk;
		}
		snprintf(keys[n].section, sizeof(keys[n].section), "%s", section);
		snprintf(keys[n].key, sizeof(keys[n].key), "%s", key);
		keys[n].line = lineno;
		n++;
	}
	if (!rc && ferror(f)) {
		shmq_errbuf_set(err, errlen, "%s: read error", path);
		rc = -EIO;
	}
	fclose(f);
	if (rc) {
		free(keys);
		return rc;
	}
	*out = keys;
	*nout = n;
	return 0;
}

/* iniparser reports syntax errors through a callback; keep the first. */
static char ini_errbuf[512];

static int ini_errback(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ini_errback(const char *fmt, ...)
{
	va_list ap;

	if (ini_errbuf[0])
		return 0;
	va_start(ap, fmt);
	int r = vsnprintf(ini_errbuf, sizeof(ini_errbuf), fmt, ap);
	va_end(ap);
	for (char *p = ini_errbuf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return r;
}

int shmq_broker_config_load_file(struct shmq_broker_config *c, const char *path, char *err,
				 size_t errlen)
{
	struct scanned_key *keys = NULL;
	size_t nkeys = 0;
	int rc = scan_file(path, &keys, &nkeys, err, errlen);
	if (rc < 0)
		return rc;

	ini_errbuf[0] = '\0';
	iniparser_set_error_callback(ini_errback);
	dictionary *d = iniparser_load(path);
	iniparser_set_error_callback(NULL);
	if (!d) {
		shmq_errbuf_set(err, errlen, "%s: %s", path, ini_errbuf[0] ? trim(ini_errbuf) : "cannot parse");
		free(keys);
		return -EINVAL;
	}

	/* Every key iniparser holds must be one the scan saw. */
	size_t ini_keys = 0;
	for (int s = 0; s < iniparser_getnsec(d); s++)
		ini_keys += (size_t)iniparser_getsecnkeys(d, iniparser_getsecname(d, s));
	if (ini_keys != nkeys) {
		shmq_errbuf_set(err, errlen, "%s: iniparser found %zu keys, the line scan %zu: unsupported syntax (continuation lines?)",
			path, ini_keys, nkeys);
		rc = -EINVAL;
		goto out;
	}

	for (size_t i = 0; i < nkeys && rc == 0; i++) {
		char origin[SHMQ_CONFIG_PATH_MAX + 16];
		char full[256];
		snprintf(origin, sizeof(origin), "%s:%u", path, keys[i].line);
		snprintf(full, sizeof(full), "%s:%s", keys[i].section, keys[i].key);
		for (char *p = full; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		const char *value = iniparser_getstring(d, full, NULL);
		if (!value) {
			shmq_errbuf_set(err, errlen, "%s: key '%s' not understood by iniparser", origin, keys[i].key);
			rc = -EINVAL;
			break;
		}
		if (strcmp(keys[i].section, "acl") == 0)
			rc = shmq_broker_config_add_acl(c, keys[i].key, value, origin, err, errlen);
		else
			rc = shmq_broker_config_set(c, keys[i].section, keys[i].key, value, origin, err,
						    errlen);
	}
	if (rc == 0)
		snprintf(c->config_file, sizeof(c->config_file), "%s", path);
out:
	iniparser_freedict(d);
	free(keys);
	return rc;
}

static int join_path(char *dst, const char *dir, const char *leaf, const char *what, char *err,
		     size_t errlen)
{
	int n = snprintf(dst, SHMQ_CONFIG_PATH_MAX, "%s/%s", dir, leaf);
	if (n < 0 || n >= SHMQ_CONFIG_PATH_MAX) {
		shmq_errbuf_set(err, errlen, "%s: derived path too long", what);
		return -EINVAL;
	}
	return 0;
}

int shmq_broker_config_finalize(struct shmq_broker_config *c, char *err, size_t errlen)
{
	if (!c->base_dir[0]) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");
		if (xdg && xdg[0] == '/' && strlen(xdg) + 6 < SHMQ_CONFIG_PATH_MAX)
			snprintf(c->base_dir, sizeof(c->base_dir), "%s/shmq", xdg);
		else
			snprintf(c->base_dir, sizeof(c->base_dir), "/tmp/shmq-%u", (unsigned)getuid());
	}
	if ((!c->store_dir[0] && join_path(c->store_dir, c->base_dir, "store", "paths.store_dir", err, errlen)) ||
	    (!c->ring_dir[0] && join_path(c->ring_dir, c->base_dir, "rings", "paths.ring_dir", err, errlen)) ||
	    (!c->control_socket[0] &&
	     join_path(c->control_socket, c->base_dir, "shmqd.sock", "paths.control_socket", err, errlen)))
		return -EINVAL;
	const struct { const char *name; const char *v; } paths[] = {
		{ "paths.base_dir", c->base_dir },
		{ "paths.store_dir", c->store_dir },
		{ "paths.ring_dir", c->ring_dir },
		{ "paths.control_socket", c->control_socket },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i].v[0] != '/') {
			shmq_errbuf_set(err, errlen, "%s: '%s' must be an absolute path", paths[i].name, paths[i].v);
			return -EINVAL;
		}
	if (c->pid_file[0] && c->pid_file[0] != '/') { /* optional, "" = none */
		shmq_errbuf_set(err, errlen, "paths.pid_file: '%s' must be an absolute path", c->pid_file);
		return -EINVAL;
	}
	if (strlen(c->control_socket) > SHMQ_CONFIG_SOCKET_PATH_MAX) {
		shmq_errbuf_set(err, errlen, "paths.control_socket: '%s' is longer than the %d bytes a unix socket path may have",
			c->control_socket, SHMQ_CONFIG_SOCKET_PATH_MAX);
		return -EINVAL;
	}
	if (c->segment_size % 4096) {
		shmq_errbuf_set(err, errlen, "store.segment_size: %" PRIu64 " is not a multiple of 4096", c->segment_size);
		return -EINVAL;
	}
	if (c->ring_capacity & (c->ring_capacity - 1)) {
		shmq_errbuf_set(err, errlen, "ring.capacity: %" PRIu64 " is not a power of two", c->ring_capacity);
		return -EINVAL;
	}
	if (c->max_message_size > c->segment_size / 2) {
		shmq_errbuf_set(err, errlen, "store.max_message_size: %" PRIu64 " exceeds store.segment_size/2 = %" PRIu64,
			c->max_message_size, c->segment_size / 2);
		return -EINVAL;
	}
	if (c->max_message_size > c->ring_capacity / 4) {
		shmq_errbuf_set(err, errlen, "store.max_message_size: %" PRIu64 " exceeds ring.capacity/4 = %" PRIu64,
			c->max_message_size, c->ring_capacity / 4);
		return -EINVAL;
	}
	/* the address itself is parsed by the backend at start-up (it may
	 * resolve a name); here only what needs no system call */
	if (c->net_listen[0]) {
		if (strncmp(c->net_listen, "udp://", 6) != 0 && strncmp(c->net_listen, "dpdk://", 7) != 0) {
			shmq_errbuf_set(err, errlen, "net.listen: '%s' is neither udp://HOST:PORT nor dpdk://IP:PORT",
				c->net_listen);
			return -EINVAL;
		}
		if (!c->net_secret_file[0] || c->net_secret_file[0] != '/') {
			shmq_errbuf_set(err, errlen, "net.secret_file: an absolute path is required with net.listen");
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- command line ---- */

enum { FLAG_CONFIG = 'c', FLAG_HELP = 'h', FLAG_VERSION = 'V', FLAG_ACL = 1000, FLAG_PRINT,
       FLAG_TABLE = 2000 /* + index into opts[] */ };

void shmq_broker_config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTION]...\n"
		"shmq broker daemon. Values come from the embedded defaults, then the config\n"
		"file, then these options (later wins).\n\n"
		"  -c, --config FILE                        INI config file (default: none, embedded defaults)\n"
		"      --acl PATTERN=SPEC                   add an [acl] rule, e.g. 'orders.*=uid:1000:pc,gid:50:c'\n"
		"      --print-config                       print the effective configuration and exit\n"
		"  -h, --help                               show this help and exit\n"
		"  -V, --version                            show the version and exit\n\n",
		prog ? prog : "shmqd");
	const char *sec = "";
	for (size_t i = 0; i < NOPTS; i++) {
		if (strcmp(sec, opts[i].section) != 0) {
			sec = opts[i].section;
			fprintf(f, "[%s]\n", sec);
		}
		char lhs[64];
		snprintf(lhs, sizeof(lhs), "--%s VALUE", opts[i].flag);
		fprintf(f, "      %-36s %s (%s.%s, default: %s)\n", lhs, opts[i].help, opts[i].section,
			opts[i].key, opts[i].def[0] ? opts[i].def : "\"\"");
	}
	fprintf(f, "\nSizes take K, M, G, T suffixes (powers of 1024).\n");
}

int shmq_broker_config_from_args(struct shmq_broker_config *c, int argc, char **argv, FILE *out,
				 char *err, size_t errlen)
{
	struct option lo[NOPTS + 6];
	size_t n = 0;
	lo[n++] = (struct option){ "config", required_argument, NULL, FLAG_CONFIG };
	lo[n++] = (struct option){ "acl", required_argument, NULL, FLAG_ACL };
	lo[n++] = (struct option){ "print-config", no_argument, NULL, FLAG_PRINT };
	lo[n++] = (struct option){ "help", no_argument, NULL, FLAG_HELP };
	lo[n++] = (struct option){ "version", no_argument, NULL, FLAG_VERSION };
	for (size_t i = 0; i < NOPTS; i++)
		lo[n++] = (struct option){ opts[i].flag, required_argument, NULL, FLAG_TABLE + (int)i };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };

	shmq_broker_config_defaults(c);

	/* Pass 1: find --config (the file goes below every other flag) and
	 * the flags that only print. */
	const char *file = NULL;
	bool print = false;
	int ch;
	optind = 0; /* GNU: full re-initialisation, so the parser can run twice */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+c:hV", lo, NULL)) != -1) {
		switch (ch) {
		case FLAG_CONFIG:
			file = optarg;
			break;
		case FLAG_HELP:
			shmq_broker_config_usage(out, argv[0]);
			return 1;
		case FLAG_VERSION:
			fprintf(out, "shmqd %s (control protocol %u)\n", SHMQ_VERSION, SHMQ_CTL_VERSION);
			return 1;
		case FLAG_PRINT:
			print = true;
			break;
		case '?':
			if (optopt > 0 && optopt < 128 && isalnum(optopt))
				shmq_errbuf_set(err, errlen, "unknown option or missing value: -%c (see --help)", optopt);
			else
				shmq_errbuf_set(err, errlen, "unknown option or missing value: %s (see --help)",
					argv[optind - 1]);
			return -EINVAL;
		default:
			break;
		}
	}
	if (optind < argc) {
		shmq_errbuf_set(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (file) {
		int r = shmq_broker_config_load_file(c, file, err, errlen);
		if (r < 0)
			return -EINVAL;
	}
	/* Pass 2: every other flag, in order, on top of the file. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+c:hV", lo, NULL)) != -1) {
		char origin[80];
		if (ch >= FLAG_TABLE && ch < FLAG_TABLE + (int)NOPTS) {
			const struct opt_def *o = &opts[ch - FLAG_TABLE];
			snprintf(origin, sizeof(origin), "--%s", o->flag);
			if (apply(c, o, optarg, origin, err, errlen) < 0)
				return -EINVAL;
		} else if (ch == FLAG_ACL) {
			char *eq = strchr(optarg, '=');
			if (!eq) {
				shmq_errbuf_set(err, errlen, "--acl: expected PATTERN=SPEC, got '%s'", optarg);
				return -EINVAL;
			}
			char pat[SHMQ_CTL_NAME_LEN + 8];
			size_t pl = (size_t)(eq - optarg);
			if (pl >= sizeof(pat)) {
				shmq_errbuf_set(err, errlen, "--acl: pattern too long");
				return -EINVAL;
			}
			memcpy(pat, optarg, pl);
			pat[pl] = '\0';
			int r = shmq_broker_config_add_acl(c, trim(pat), eq + 1, "--acl", err, errlen);
			if (r < 0)
				return r;
		}
	}
	int r = shmq_broker_config_finalize(c, err, errlen);
	if (r < 0)
		return r;
	shmq_acl_t *acl;
	r = shmq_broker_config_build_acl(c, &acl, err, errlen);
	if (r < 0)
		return r;
	shmq_acl_destroy(acl);
	if (print) {
		shmq_broker_config_print(c, out);
		return 1;
	}
	return 0;
}

static void print_size(FILE *f, uint64_t v)
{
	static const struct { uint64_t m; char s; } u[] = { { TiB, 'T' }, { GiB, 'G' }, { MiB, 'M' }, { KiB, 'K' } };
	for (size_t i = 0; i < 4; i++)
		if (v && v % u[i].m == 0) {
			fprintf(f, "%" PRIu64 "%c", v / u[i].m, u[i].s);
			return;
		}
	fprintf(f, "%" PRIu64, v);
}

static void print_rights(FILE *f, unsigned r)
{
	if (!r) {
		fputs("none", f);
		return;
	}
	if (r & SHMQ_ACL_PRODUCE)
		fputc('p', f);
	if (r & SHMQ_ACL_CONSUME)
		fputc('c', f);
	if (r & SHMQ_ACL_ADMIN)
		fputc('a', f);
}

void shmq_broker_config_print(const struct shmq_broker_config *c, FILE *f)
{
	const char *sec = "";
	fprintf(f, "; shmqd effective configuration (config file: %s)\n",
		c->config_file[0] ? c->config_file : "none");
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt_def *o = &opts[i];
		const char *field = (const char *)c + o->offset;
		if (strcmp(sec, o->section) != 0) {
			sec = o->section;
			fprintf(f, "%s[%s]\n", i ? "\n" : "", sec);
		}
		fprintf(f, "%s = ", o->key);
		switch (o->type) {
		case OPT_NAME:
		case OPT_PATH:
			fputs(field, f);
			break;
		case OPT_U32:
			fprintf(f, "%" PRIu32, *(const uint32_t *)(const void *)field);
			break;
		case OPT_U64:
			fprintf(f, "%" PRIu64, *(const uint64_t *)(const void *)field);
			break;
		case OPT_SIZE:
			print_size(f, *(const uint64_t *)(const void *)field);
			break;
		case OPT_BOOL:
			fputs(*(const bool *)(const void *)field ? "true" : "false", f);
			break;
		case OPT_FLUSH:
			fputs(*(const int *)(const void *)field == SHMQ_BROKER_FLUSH_SYNC ? "sync" : "async", f);
			break;
		case OPT_LEVEL:
			fputs(shmq_log_level_name(*(const int *)(const void *)field), f);
			break;
		case OPT_RIGHTS:
			print_rights(f, *(const unsigned *)(const void *)field);
			break;
		}
		fputc('\n', f);
	}
	fprintf(f, "\n[acl]\n");
	for (size_t i = 0; i < c->nacl; i++)
		fprintf(f, "%s = %s\n", c->acl[i].pattern, c->acl[i].spec);
}

int shmq_broker_config_build_acl(const struct shmq_broker_config *c, shmq_acl_t **out, char *err,
				 size_t errlen)
{
	shmq_acl_t *acl;
	int r = shmq_acl_create(&acl, c->acl_default_rights, geteuid());
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->nacl; i++) {
		char why[256] = "";
		r = shmq_acl_add(acl, c->acl[i].pattern, c->acl[i].spec, why, sizeof(why));
		if (r < 0) {
			shmq_errbuf_set(err, errlen, "%s: [acl] %s: %s", c->acl[i].origin, c->acl[i].pattern, why);
			shmq_acl_destroy(acl);
			return r;
		}
	}
	*out = acl;
	return 0;
}
