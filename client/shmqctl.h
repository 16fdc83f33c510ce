/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file client/shmqctl.h
 * @brief shmqctl internals: what the command groups (shmqctl_*.c) share.
 *
 * shmqctl is a plain libshmq client: every command goes through the public
 * API (shmq/shmq.h, shmq/admin.h), nothing here talks the control protocol.
 *
 * Exit codes, for every command: CTL_EXIT_OK (0), CTL_EXIT_USAGE (1: bad
 * arguments, nothing was asked of the broker), CTL_EXIT_BROKER (2: the broker
 * could not be reached or refused/failed the request; the message says why).
 *
 * Output: human-readable text by default; with --json exactly one JSON
 * document on stdout (json-c), except `consume --follow --json`, which prints
 * one JSON object per line (JSON Lines) because it never ends by itself.
 * Diagnostics always go to stderr.
 */
#ifndef SHMQ_CLIENT_SHMQCTL_H
#define SHMQ_CLIENT_SHMQCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "shmq/admin.h"
#include "common/strnum.h"
#include "shmq/shmq.h"

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_USAGE = 1,
	CTL_EXIT_BROKER = 2,
};

/* Long options every command accepts as well as its own (values >= 0x100). */
enum {
	CTL_OPT_SOCKET = 0x100,
	CTL_OPT_JSON,
	CTL_OPT_HELP,
	CTL_OPT_BROKER,      /* --broker URL|PATH: the same as --socket, named for remote brokers */
	CTL_OPT_PRINCIPAL,   /* remote brokers: the HELLO principal */
	CTL_OPT_SECRET_FILE, /* remote brokers: the shared secret */
	CTL_OPT_FIRST_LOCAL = 0x200, /* commands number their own options from here */
};

struct ctl {
	const char *socket;  /* NULL: the default broker of this user; udp:// or dpdk://: remote */
	const char *principal;   /* remote: NULL = env SHMQ_PRINCIPAL, else the user's name */
	const char *secret_file; /* remote: NULL = env SHMQ_SECRET_FILE */
	bool json;
	shmq_client_t *client; /* opened lazily by ctl_connect() */
};

/** One command: @p argv[0] is the command word; returns an exit code. */
typedef int (*ctl_cmd_fn)(struct ctl *ctl, int argc, char **argv);

/** Every command's options: its own @p local (may be NULL) followed by the
 * common --socket/--broker, --principal, --secret-file, --json, --help;
 * @p out must hold CTL_MAX_OPTS entries. */
#define CTL_MAX_OPTS 32
void ctl_options(const struct option *local, struct option *out);

/**
 * @brief getopt_long over a command's argv with its short options
 *        @p shortopts; handles the common options itself.
 * @return the option value for the caller to handle, -1 at the end,
 *         '?' on a bad option (already reported), 'h' for --help.
 */
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/** @brief Connect (once). On failure prints why and returns CTL_EXIT_BROKER. */
int ctl_connect(struct ctl *ctl);
/* For a subcommand with no options of its own: parse the global ones, answer
 * -h, and require exactly @p nargs words after them (@p usage otherwise).
 * -1 to go on, else the exit code to return. */
int ctl_plain_args(struct ctl *ctl, int argc, char **argv, const char *cmd, int nargs,
		   const char *usage);

/** @brief Report a failed call (status + the broker's text); returns CTL_EXIT_BROKER. */
int ctl_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** @brief Report a usage error with a hint; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- values ---- */

/**
 * @brief TIME: ISO-8601 UTC (`2026-11-24T10:12:35Z`, optional `.mmm`, a
 *        space instead of `T`, the `Z` optional, or a date alone), epoch
 *        milliseconds (digits only), or `now`.
 * @return 0 or -EINVAL.
 */
int ctl_parse_time(const char *s, uint64_t *ms);
/** @brief Epoch ms as `2026-11-24T10:12:35.123Z` (buf >= 32 bytes). */
const char *ctl_fmt_time(uint64_t ms, char *buf, size_t len);

/* ---- output ---- */

/** @brief Print @p doc as one JSON document on stdout, then free it. */
void ctl_json_print(json_object *doc, bool pretty);
/** @brief A u64 offset for JSON: null when SHMQ_OFFSET_UNKNOWN. */
json_object *ctl_json_offset(uint64_t off);
/** @brief An offset for text tables: "-" when SHMQ_OFFSET_UNKNOWN (buf >= 24). */
const char *ctl_fmt_offset(uint64_t off, char *buf, size_t len);
/** @brief Bytes with a binary unit: "4.0 MiB" (buf >= 24). */
const char *ctl_fmt_bytes(uint64_t b, char *buf, size_t len);

/** @brief A received or stored message as a JSON object. @p store_ts_ms 0 = unknown. */
json_object *ctl_msg_json(const struct shmq_msg_view *m, uint64_t store_ts_ms);
/** @brief A message for people: a header line then the body, indented;
 *  @p body_only prints just the body (escaped) on one line. */
void ctl_msg_print(FILE *f, const struct shmq_msg_view *m, uint64_t store_ts_ms, bool body_only);

/** @brief One ring's status as JSON / a table of rings (only @p topic's if non-NULL). */
json_object *ctl_ring_json(const struct shmq_ring_status *r);
void ctl_ring_table(FILE *f, const struct shmq_ring_status *rings, size_t n, const char *topic);

/* ---- the command groups ---- */
int ctl_cmd_topic(struct ctl *ctl, int argc, char **argv);    /* shmqctl_topic.c */
int ctl_cmd_send(struct ctl *ctl, int argc, char **argv);     /* shmqctl_msg.c */
int ctl_cmd_consume(struct ctl *ctl, int argc, char **argv);  /* shmqctl_msg.c */
int ctl_cmd_query(struct ctl *ctl, int argc, char **argv);    /* shmqctl_msg.c */
int ctl_cmd_group(struct ctl *ctl, int argc, char **argv);    /* shmqctl_admin.c */
int ctl_cmd_status(struct ctl *ctl, int argc, char **argv);   /* shmqctl_admin.c */

/* ---- per-command help texts (shmqctl.c) ---- */
void ctl_help(FILE *f, const char *cmd);

#endif
