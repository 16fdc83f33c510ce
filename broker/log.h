/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/log.h
 * @brief Leveled, timestamped logging for shmqd.
 *
 * One line per call: `2026-11-24T10:12:35.123Z WARN  [component] text\n`
 * (ISO-8601 UTC with milliseconds), written with a single write() on an
 * O_APPEND file or stderr, so lines from concurrent threads and processes
 * never interleave. Lines longer than SHMQ_LOG_LINE_MAX are truncated and end
 * in "..."; control characters in the text (newlines included) become ' ',
 * so a message can never forge a line of its own.
 *
 * Concurrency: shmq_log*(), shmq_log_set_level() and shmq_log_open() may run
 * concurrently from any thread: the level and the fd are atomics, writers
 * take no lock, opens serialise on a mutex, and a re-open puts the new file
 * under the same fd number with dup3(), so a writer never sees a closed fd.
 * shmq_log_close() must run when no other thread logs (shutdown).
 */
#ifndef SHMQ_BROKER_LOG_H
#define SHMQ_BROKER_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum shmq_log_level {
	SHMQ_LOG_ERROR = 0,
	SHMQ_LOG_WARN = 1,
	SHMQ_LOG_INFO = 2,
	SHMQ_LOG_DEBUG = 3,
};

#define SHMQ_LOG_LINE_MAX 1024

/**
 * @brief Send log lines to @p path (created 0640, appended), or to stderr
 *        when @p path is NULL or "". Re-opening (log rotation) is atomic.
 * @return 0 or -errno (the previous destination stays in use).
 */
int shmq_log_open(const char *path);

/** @brief Back to stderr; closes the file. Shutdown only (see above). */
void shmq_log_close(void);

/** @brief Lines above @p level are dropped. Values are clamped to the enum. */
void shmq_log_set_level(int level);
int shmq_log_get_level(void);
bool shmq_log_enabled(int level);

/** @brief "error", "warn", "info", "debug" (case-insensitive) -> level, else -EINVAL. */
int shmq_log_level_parse(const char *s);
/** @brief "error", ... ; "?" for an unknown value. */
const char *shmq_log_level_name(int level);

/** @brief Log one line tagged with @p component (e.g. "store", "ctl"). */
void shmq_log(int level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void shmq_vlog(int level, const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define shmq_log_error(comp, ...) shmq_log(SHMQ_LOG_ERROR, (comp), __VA_ARGS__)
#define shmq_log_warn(comp, ...)  shmq_log(SHMQ_LOG_WARN, (comp), __VA_ARGS__)
#define shmq_log_info(comp, ...)  shmq_log(SHMQ_LOG_INFO, (comp), __VA_ARGS__)
#define shmq_log_debug(comp, ...) \
	do { \
		if (shmq_log_enabled(SHMQ_LOG_DEBUG)) \
			shmq_log(SHMQ_LOG_DEBUG, (comp), __VA_ARGS__); \
	} while (0)

#endif
