/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "tests/integration/itest.h"

#define START_TIMEOUT_MS 10000u
#define STOP_TIMEOUT_MS 20000u

static void forget_child(pid_t pid);

const char *itest_shmqd_path(void)
{
	const char *p = getenv("SHMQD");

	return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

uint64_t itest_seed(const char *test)
{
	const char *s = getenv("SHMQ_SEED");
	uint64_t seed = s && *s ? strtoull(s, NULL, 0) : (itest_now_ns() ^ ((uint64_t)getpid() << 32));

	fprintf(stderr, "%s: seed %" PRIu64 " (set SHMQ_SEED to replay)\n", test, seed);
	return seed;
}

unsigned itest_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	long v = s ? strtol(s, NULL, 10) : 1;

	return v >= 1 && v <= 1000 ? (unsigned)v : 1;
}

uint64_t itest_now_ns(void)
{
	return shmq_now_ns();
}

void itest_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void itest_path(const struct itest_broker *b, char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, len, "%s/", b->base);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < len)
		vsnprintf(out + n, len - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Broker process                                                      */

static int add_arg(struct itest_broker *b, size_t *argc, size_t *used, const char *word)
{
	size_t n = strlen(word) + 1;

	if (*argc >= ITEST_MAX_ARGS || *used + n > sizeof(b->argbuf))
		return -E2BIG;
	memcpy(b->argbuf + *used, word, n);
	b->argv[(*argc)++] = b->argbuf + *used;
	b->argv[*argc] = NULL;
	*used += n;
	return 0;
}

/* The broker listens once connect() succeeds; a stale socket file left by a
 * killed broker refuses (ECONNREFUSED) until the new one has bound it. */
static int socket_answers(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, rc;

	if (len >= sizeof(a.sun_path))
		return 0;
	memcpy(a.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc == 0;
}

static int launch(struct itest_broker *b)
{
	int logfd = open(b->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	pid_t pid;

	if (logfd < 0)
		return -errno;
	{
		char line[128];
		int n = snprintf(line, sizeof(line), "---- itest: broker start #%u\n", b->starts + 1);

		if (write(logfd, line, (size_t)n) < 0) {
			/* the log is diagnostics only */
		}
	}
	pid_t parent = getpid();

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = -errno;

		close(logfd);
		return e;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		/* a test process killed by its timeout takes its broker along */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(126);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(b->argv[0], b->argv);
		fprintf(stderr, "itest: exec %s: %s\n", b->argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	b->pid = pid;
	b->starts++;
	for (unsigned waited = 0; waited < START_TIMEOUT_MS; waited += 5) {
		int st;

		if (waitpid(pid, &st, WNOHANG) == pid) {
			b->pid = 0;
			fprintf(stderr, "itest: shmqd exited during start (status 0x%x)\n", st);
			itest_broker_dump_log(b, 4096);
			return -ECHILD;
		}
		if (socket_answers(b->sock))
			return 0;
		itest_sleep_ms(5);
	}
	fprintf(stderr, "itest: shmqd did not answer on %s within %u ms\n", b->sock, START_TIMEOUT_MS);
	itest_broker_dump_log(b, 4096);
	return -ETIMEDOUT;
}

int itest_broker_start(struct itest_broker *b, const struct itest_broker_opts *o)
{
	static const struct itest_broker_opts defaults;
	const char *bin = itest_shmqd_path();
	size_t argc = 0, used = 0;
	char store[ITEST_PATH_MAX];
	int rc = 0;

	memset(b, 0, sizeof(*b));
	if (!o)
		o = &defaults;
	if (!bin)
		return -ENOENT;
	snprintf(b->base, sizeof(b->base), "/tmp/shmq-it-XXXXXX");
	snprintf(b->rings, sizeof(b->rings), "/dev/shm/shmq-it-XXXXXX");
	if (!mkdtemp(b->base)) {
		b->base[0] = 0;
		return -errno;
	}
	if (!mkdtemp(b->rings)) {
		b->rings[0] = 0;
		return -errno;
	}
	itest_path(b, b->sock, sizeof(b->sock), "shmqd.sock");
	itest_path(b, b->log, sizeof(b->log), "shmqd.log");
	itest_path(b, store, sizeof(store), "store");
	rc |= add_arg(b, &argc, &used, bin);
	rc |= add_arg(b, &argc, &used, "--base-dir");
	rc |= add_arg(b, &argc, &used, b->base);
	rc |= add_arg(b, &argc, &used, "--store-dir");
	rc |= add_arg(b, &argc, &used, store);
	rc |= add_arg(b, &argc, &used, "--ring-dir");
	rc |= add_arg(b, &argc, &used, b->rings);
	rc |= add_arg(b, &argc, &used, "--control-socket");
	rc |= add_arg(b, &argc, &used, b->sock);
	rc |= add_arg(b, &argc, &used, "--flush-mode");
	rc |= add_arg(b, &argc, &used, o->sync_flush ? "sync" : "async");
	rc |= add_arg(b, &argc, &used, "--segment-size");
	rc |= add_arg(b, &argc, &used, o->segment_size ? o->segment_size : "16M");
	rc |= add_arg(b, &argc, &used, "--ring-capacity");
	rc |= add_arg(b, &argc, &used, o->ring_capacity ? o->ring_capacity : "1M");
	rc |= add_arg(b, &argc, &used, "--max-message-size");
	rc |= add_arg(b, &argc, &used, o->max_message_size ? o->max_message_size : "64K");
	if (o->flush_interval_ms) {
		rc |= add_arg(b, &argc, &used, "--flush-interval-ms");
		rc |= add_arg(b, &argc, &used, o->flush_interval_ms);
	}
	if (o->config_text) {
		char ini[ITEST_PATH_MAX];
		FILE *f;

		itest_path(b, ini, sizeof(ini), "shmqd.ini");
		f = fopen(ini, "we");
		if (!f)
			return -errno;
		fputs(o->config_text, f);
		if (fclose(f) != 0)
			return -EIO;
		rc |= add_arg(b, &argc, &used, "--config");
		rc |= add_arg(b, &argc, &used, ini);
	}
	/* Offsets reach offsets.json quickly, so restarts exercise both sources. */
	rc |= add_arg(b, &argc, &used, "--offset-persist-interval-ms");
	rc |= add_arg(b, &argc, &used, "200");
	for (size_t i = 0; i < sizeof(o->extra) / sizeof(o->extra[0]) && o->extra[i]; i++)
		rc |= add_arg(b, &argc, &used, o->extra[i]);
	if (rc)
		return -E2BIG;
	return launch(b);
}

int itest_broker_restart(struct itest_broker *b)
{
	if (b->pid)
		return -EBUSY;
	return launch(b);
}

int itest_wait(pid_t pid, unsigned timeout_ms)
{
	uint64_t deadline = itest_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	unsigned step = 1;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (itest_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			forget_child(pid);
			return -ETIMEDOUT;
		}
		itest_sleep_ms(step);
		if (step < 20)
			step *= 2;
	}
	forget_child(pid);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

void itest_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	forget_child(pid);
}

int itest_broker_stop(struct itest_broker *b)
{
	int rc;

	if (!b->pid)
		return -ESRCH;
	kill(b->pid, SIGTERM);
	rc = itest_wait(b->pid, STOP_TIMEOUT_MS);
	b->pid = 0;
	if (rc != 0) {
		fprintf(stderr, "itest: shmqd stop: %s %d\n", rc < 0 ? "error" : "exit status", rc);
		itest_broker_dump_log(b, 4096);
	}
	return rc;
}

void itest_broker_kill(struct itest_broker *b)
{
	itest_kill(b->pid);
	b->pid = 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void itest_broker_cleanup(struct itest_broker *b)
{
	itest_broker_kill(b);
	if (getenv("SHMQ_KEEP_TMP") && b->base[0]) {
		fprintf(stderr, "itest: kept %s and %s\n", b->base, b->rings);
		return;
	}
	if (b->base[0])
		nftw(b->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (b->rings[0])
		nftw(b->rings, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	b->base[0] = 0;
	b->rings[0] = 0;
}

void itest_teardown(struct itest_broker *b)
{
	if (b->pid)
		kill(b->pid, SIGCONT);  /* a SIGSTOPped broker must not outlive the test */
	itest_kill_all();
	itest_broker_cleanup(b);
}

void itest_broker_dump_log(const struct itest_broker *b, size_t max_bytes)
{
	void *buf = NULL;
	size_t len = 0;

	if (itest_read_file(b->log, &buf, &len) != 0)
		return;
	if (len > max_bytes) {
		fprintf(stderr, "---- shmqd log (last %zu of %zu bytes) ----\n", max_bytes, len);
		fwrite((char *)buf + len - max_bytes, 1, max_bytes, stderr);
	} else {
		fprintf(stderr, "---- shmqd log ----\n");
		fwrite(buf, 1, len, stderr);
	}
	fprintf(stderr, "---- end of shmqd log ----\n");
	free(buf);
}

/* ------------------------------------------------------------------ */
/* Children                                                            */

#define MAX_CHILDREN 256
static pid_t children[MAX_CHILDREN];

static void forget_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

pid_t itest_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int rc = fn(arg);

		fflush(NULL);
		_exit(rc < 0 ? 100 : rc > 99 ? 99 : rc);
	}
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (!children[i]) {
			children[i] = pid;
			break;
		}
	return pid;
}

void itest_kill_all(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i])
			itest_kill(children[i]);
}

int itest_drop_privileges(void)
{
	const gid_t nogroup = 65534;

	if (setgroups(0, NULL) != 0 && errno != EPERM)
		return -errno;
	if (setgid(nogroup) != 0)
		return -errno;
	if (setuid(65534) != 0)
		return -errno;
	return getuid() == 65534 && geteuid() == 65534 ? 0 : -EPERM;
}

void *itest_shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void itest_shared_free(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

int itest_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	return fd < 0 ? -errno : fd;
}

int itest_log_append(int fd, const void *rec, size_t len)
{
	ssize_t n = write(fd, rec, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int itest_read_file(const char *path, void **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = 0;
	*out = buf;
	*len = got;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */

static uint8_t pattern_byte(const struct itest_body_hdr *h, uint32_t i)
{
	return (uint8_t)(h->seq * 131u + h->producer * 7u + h->key * 3u + i);
}

void itest_body_fill(void *buf, uint32_t len, uint32_t producer, uint32_t key, uint64_t seq)
{
	struct itest_body_hdr h = { .producer = producer, .key = key, .seq = seq, .ts_ns = itest_now_ns() };
	uint8_t *p = buf;

	memcpy(p, &h, sizeof(h));
	for (uint32_t i = sizeof(h); i < len; i++)
		p[i] = pattern_byte(&h, i);
}

int itest_body_check(const void *buf, uint32_t len, struct itest_body_hdr *out)
{
	const uint8_t *p = buf;

	if (len < sizeof(*out) || !buf)
		return -EBADMSG;
	memcpy(out, p, sizeof(*out));
	for (uint32_t i = sizeof(*out); i < len; i++)
		if (p[i] != pattern_byte(out, i))
			return -EBADMSG;
	return 0;
}

uint64_t itest_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
