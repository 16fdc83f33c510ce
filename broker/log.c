/* SPDX-License-Identifier: Apache-2.0 */
/* Leveled logging: see broker/log.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "broker/log.h"
#include "common/atomic.h"

static _Atomic int log_level = SHMQ_LOG_INFO;
/* The fd lines go to: 2 (stderr) or a file we own. Once we own one, a
 * re-open dup2()s the new file onto the same number, so a writer that loaded
 * the number never writes to a closed or recycled fd. */
static _Atomic int log_fd = STDERR_FILENO;
/* Serialises shmq_log_open()/shmq_log_close() among themselves; writers never take it. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "error", "warn", "info", "debug" };
static const char *const level_tags[] = { "ERROR", "WARN ", "INFO ", "DEBUG" };

int shmq_log_open(const char *path)
{
	if (!path || !*path) {
		shmq_log_close();
		return 0;
	}
	int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (nfd < 0)
		return -errno;
	int r = 0;
	pthread_mutex_lock(&open_lock);
	/* relaxed: log_fd changes only under open_lock, which we hold */
	int cur = shmq_load_relaxed(&log_fd);
	if (cur == STDERR_FILENO) {
		/* release: pairs with the acquire in shmq_vlog(); the new fd is
		 * open before any writer can see its number */
		shmq_store_release(&log_fd, nfd);
		nfd = -1;
	} else if (dup3(nfd, cur, O_CLOEXEC) < 0) {
		r = -errno;
	}
	pthread_mutex_unlock(&open_lock);
	if (nfd >= 0)
		close(nfd);
	return r;
}

void shmq_log_close(void)
{
	pthread_mutex_lock(&open_lock);
	/* relaxed: shutdown only, no concurrent writer (header contract), and
	 * log_fd changes only under open_lock */
	int cur = shmq_load_relaxed(&log_fd);
	shmq_store_relaxed(&log_fd, STDERR_FILENO);
	pthread_mutex_unlock(&open_lock);
	if (cur != STDERR_FILENO)
		close(cur);
}

void shmq_log_set_level(int level)
{
	if (level < SHMQ_LOG_ERROR)
		level = SHMQ_LOG_ERROR;
	if (level > SHMQ_LOG_DEBUG)
		level = SHMQ_LOG_DEBUG;
	/* relaxed: the level is a standalone flag; no data is published with it */
	shmq_store_relaxed(&log_level, level);
}

int shmq_log_get_level(void)
{
	return shmq_load_relaxed(&log_level); /* relaxed: see shmq_log_set_level() */
}

bool shmq_log_enabled(int level)
{
	return level <= shmq_load_relaxed(&log_level); /* relaxed: see shmq_log_set_level() */
}

int shmq_log_level_parse(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return SHMQ_LOG_WARN;
	return -EINVAL;
}

const char *shmq_log_level_name(int level)
{
	if (level < SHMQ_LOG_ERROR || level > SHMQ_LOG_DEBUG)
		return "?";
	return level_names[level];
}

void shmq_vlog(int level, const char *component, const char *fmt, va_list ap)
{
	char line[SHMQ_LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;

	if (!shmq_log_enabled(level))
		return;
	if (level < SHMQ_LOG_ERROR)
		level = SHMQ_LOG_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int h = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000L, level_tags[level],
			 component ? component : "-");
	if (h < 0)
		return;
	size_t hl = (size_t)h < sizeof(line) - 2 ? (size_t)h : sizeof(line) - 2;
	/* leave room for the newline: the text gets line[hl .. MAX-2] */
	int t = vsnprintf(line + hl, sizeof(line) - 1 - hl, fmt, ap);
	if (t < 0)
		t = 0;
	size_t len = hl + (size_t)t;
	if (len > sizeof(line) - 2) {
		len = sizeof(line) - 2;
		memcpy(line + len - 3, "...", 3);
	}
	for (size_t i = hl; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	line[len++] = '\n';

	/* acquire: pairs with the release in shmq_log_open() */
	int fd = shmq_load_acquire(&log_fd);
	size_t off = 0;
	int saved = errno; /* logging never changes the caller's errno */
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	errno = saved;
}

void shmq_log(int level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	shmq_vlog(level, component, fmt, ap);
	va_end(ap);
}
