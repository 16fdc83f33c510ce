/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/config.h
 * @brief shmqd configuration: embedded defaults < INI file < command line.
 *
 * One table in config.c lists every option once (section, key, long flag,
 * type, range, default, help): the INI parser, the defaults, the command
 * line and `--help` are all driven by it, so they cannot drift apart.
 *
 * The file is INI (Debian's libiniparser), sections [broker], [paths],
 * [store], [ring], [topics], [consumer], [log], [net] and [acl]. Unknown sections
 * and keys, keys outside a section, duplicate keys, bad numbers and values
 * out of range are errors that name the file and line. [acl] holds
 * `topic-pattern = spec` lines (broker/acl.h). Every option has a long flag
 * (`--segment-size 64M`); `--config FILE` picks the file (none by default:
 * the embedded defaults work alone), `--acl PATTERN=SPEC` adds a rule.
 *
 * Paths left empty are derived: base_dir = $XDG_RUNTIME_DIR/shmq, or
 * /tmp/shmq-<uid> when XDG_RUNTIME_DIR is unset or not absolute; store_dir =
 * <base_dir>/store, ring_dir = <base_dir>/rings, control_socket =
 * <base_dir>/shmqd.sock.
 *
 * Not thread-safe (getopt_long and iniparser use global state): configure
 * before starting threads.
 */
#ifndef SHMQ_BROKER_CONFIG_H
#define SHMQ_BROKER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "broker/acl.h"

/* Values of flush_mode; the same numbering as enum shmq_store_flush_mode. */
enum shmq_broker_flush_mode {
	SHMQ_BROKER_FLUSH_ASYNC = 0,
	SHMQ_BROKER_FLUSH_SYNC = 1,
};

#define SHMQ_CONFIG_PATH_MAX 4096
/* sockaddr_un.sun_path holds 108 bytes including the NUL */
#define SHMQ_CONFIG_SOCKET_PATH_MAX 107

struct shmq_broker_acl_line {
	char *pattern;  /* as written (case kept) */
	char *spec;
	char *origin;   /* "file:line" or "--acl" */
};

struct shmq_broker_config {
	/* [broker] */
	char broker_name[128];        /**< topic-name charset, 1..127 bytes; default "shmqd" */
	uint32_t broker_id;           /**< encoded in message ids; default 0 */
	unsigned acl_default_rights;  /**< SHMQ_ACL_* bits when no rule matches; default none */
	uint64_t shutdown_drain_ms;   /**< SIGTERM: longest wait for the rings to drain; default 5000 */
	/* [paths] (absolute after finalize) */
	char base_dir[SHMQ_CONFIG_PATH_MAX];
	char store_dir[SHMQ_CONFIG_PATH_MAX];
	char ring_dir[SHMQ_CONFIG_PATH_MAX];
	char control_socket[SHMQ_CONFIG_PATH_MAX];
	char pid_file[SHMQ_CONFIG_PATH_MAX]; /**< "" = no pid file */
	/* [store] */
	uint64_t segment_size;        /**< bytes, multiple of 4096, >= 64 KiB; default 1 GiB */
	uint64_t max_message_size;    /**< bytes; <= segment_size/2 and ring_capacity/4; default 1 MiB */
	int flush_mode;               /**< enum shmq_broker_flush_mode; default async */
	uint64_t flush_interval_ms;   /**< async flush period; default 500 */
	uint64_t retention_hours;     /**< default 72 */
	uint64_t disk_max_used_ratio; /**< percent of the store's file system; default 75 */
	uint64_t retention_check_interval_ms; /**< how often retention runs; default 60000 */
	/* [ring] */
	uint64_t ring_capacity;       /**< bytes, power of two, 4 KiB..1 TiB; default 4 MiB */
	uint64_t unblock_timeout_ms;  /**< a reserved record older than this is padded out; default 1000 */
	/* [topics] */
	bool auto_create_topics;      /**< create a topic on first OPEN_QUEUE; default false */
	uint64_t default_queues;      /**< queues of an auto-created topic, 1..1024; default 4 */
	/* [consumer] */
	uint64_t offset_persist_interval_ms; /**< default 5000 */
	uint64_t revoke_timeout_ms;   /**< revoked queue not released in time: forced; default 10000 */
	/* [log] */
	int log_level;                /**< enum shmq_log_level; default info */
	char log_file[SHMQ_CONFIG_PATH_MAX]; /**< "" = stderr */
	/* [net] (the remote port, broker/remote.h) */
	char net_listen[SHMQ_CONFIG_PATH_MAX];      /**< "udp://ip:port" or "dpdk://ip:port"; "" = off */
	char net_secret_file[SHMQ_CONFIG_PATH_MAX]; /**< shared secret (16..64 bytes); required with listen */
	char net_dpdk_args[SHMQ_CONFIG_PATH_MAX];   /**< EAL arguments for the DPDK backend */
	char net_dpdk_ip[SHMQ_CONFIG_PATH_MAX];     /**< IPv4 address the DPDK port answers for */
	/* [acl] */
	size_t nacl;
	struct shmq_broker_acl_line *acl;
	/* where the values came from */
	char config_file[SHMQ_CONFIG_PATH_MAX]; /**< "" = no file */
};

/** @brief Fill @p c with the embedded defaults (paths still empty). */
void shmq_broker_config_defaults(struct shmq_broker_config *c);

/** @brief Free what @p c owns (ACL lines); @p c may then be re-defaulted. */
void shmq_broker_config_free(struct shmq_broker_config *c);

/**
 * @brief Set one option by section and key (as in the file).
 * @param origin where the value came from, for messages ("f.ini:12").
 * @return 0; -EINVAL (unknown key, bad value, out of range; @p err says which).
 */
int shmq_broker_config_set(struct shmq_broker_config *c, const char *section, const char *key,
			   const char *value, const char *origin, char *err, size_t errlen);

/** @brief Add an ACL line (checked now, with the ACL parser). 0 or -EINVAL/-ENOMEM. */
int shmq_broker_config_add_acl(struct shmq_broker_config *c, const char *pattern,
			       const char *spec, const char *origin, char *err, size_t errlen);

/**
 * @brief Apply an INI file on top of @p c.
 * @return 0; -errno if it cannot be read; -EINVAL for any content error.
 */
int shmq_broker_config_load_file(struct shmq_broker_config *c, const char *path, char *err,
				 size_t errlen);

/**
 * @brief Derive empty paths and check what involves several options.
 * @return 0 or -EINVAL.
 */
int shmq_broker_config_finalize(struct shmq_broker_config *c, char *err, size_t errlen);

/**
 * @brief The whole sequence for shmqd's main(): defaults, --config file,
 *        then the other flags in order, then finalize.
 * @param out where --help, --version and --print-config write.
 * @return 0 to run; 1 when --help, --version or --print-config was handled
 *         (exit 0); -EINVAL with @p err set (exit 2). @p c must be freed
 *         with shmq_broker_config_free() in every case.
 */
int shmq_broker_config_from_args(struct shmq_broker_config *c, int argc, char **argv, FILE *out,
				 char *err, size_t errlen);

/** @brief `--help` text, generated from the option table. */
void shmq_broker_config_usage(FILE *f, const char *prog);

/** @brief Dump the effective config as an INI file that loads back to the same values. */
void shmq_broker_config_print(const struct shmq_broker_config *c, FILE *f);

/** @brief Build the ACL described by @p c; the broker's uid is geteuid(). */
int shmq_broker_config_build_acl(const struct shmq_broker_config *c, shmq_acl_t **out, char *err,
				 size_t errlen);

#endif
