/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of the tests/ebpf tests: child processes with piped stdin/stdout
 * (shmq-probe, probe_target, prometheus) and plain HTTP/1.0 GETs over
 * loopback. Header-only, cmocka-free.
 */
#ifndef SHMQ_TESTS_EBPF_PROBE_TEST_UTIL_H
#define SHMQ_TESTS_EBPF_PROBE_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINE_TIMEOUT_MS 30000

struct child {
	pid_t pid;
	int in;   /* its stdin, or -1 */
	FILE *out; /* its stdout */
};

/* Starts argv with its stdin and stdout on pipes (env: extra NAME=VALUE or NULL). */
static inline int spawn_err(struct child *c, char *const argv[], const char *env, const char *err_path)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (err_path != NULL) {
			int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(126);
		}
		if (env != NULL)
			putenv((char *)env);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->pid = pid;
	c->in = in[1];
	c->out = fdopen(out[0], "r");
	return c->out != NULL ? 0 : -ENOMEM;
}

static inline int spawn(struct child *c, char *const argv[], const char *env)
{
	return spawn_err(c, argv, env, NULL);
}

/* One line of the child's stdout within the timeout; NULL on EOF/timeout. */
static inline char *read_line(struct child *c, char *buf, size_t len)
{
	struct pollfd p = { .fd = fileno(c->out), .events = POLLIN };
	if (poll(&p, 1, LINE_TIMEOUT_MS) != 1)
		return NULL;
	return fgets(buf, (int)len, c->out);
}

static inline int wait_exit(struct child *c)
{
	int status;
	for (int i = 0; i < 200; i++) { /* 10 s */
		pid_t r = waitpid(c->pid, &status, WNOHANG);
		if (r == c->pid) {
			c->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(50000);
	}
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	c->pid = 0;
	return -1;
}

static inline void child_close(struct child *c, bool term)
{
	if (c->in >= 0)
		close(c->in);
	c->in = -1;
	if (c->out != NULL)
		fclose(c->out);
	c->out = NULL;
	if (c->pid > 0) {
		if (term)
			kill(c->pid, SIGTERM);
		wait_exit(c); /* the target exits on EOF, removing its file */
	}
}

/* GET path over loopback; returns the whole response (malloc'ed). */
static inline char *http_get_port(unsigned port, const char *path)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return NULL;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(s);
		return NULL; /* not listening (yet) */
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(s, req, (size_t)n) != n) {
		close(s);
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		close(s);
		return NULL;
	}
	ssize_t r;
	struct pollfd p = { .fd = s, .events = POLLIN };
	while (poll(&p, 1, LINE_TIMEOUT_MS) == 1 && (r = read(s, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL)
				break;
			buf = nb;
		}
	}
	buf[len] = '\0';
	close(s);
	return buf;
}

/* Wait for shmq-probe's "ready ..." line into @p line. 0; 77 when it exited 3
 * (BPF unavailable here: the test skips); 1 when it failed otherwise. */
static inline int probe_wait_ready(struct child *c, char *line, size_t len)
{
	if (read_line(c, line, len) != NULL)
		return 0;
	int st = wait_exit(c);
	if (st == 3) {
		printf("SKIP: shmq-probe says BPF is unavailable here (see its message above)\n");
		return 77;
	}
	fprintf(stderr, "shmq-probe did not become ready (exit %d)\n", st);
	return 1;
}

/* Whatever shmq-probe left under @p pin_root: its pinned maps and the
 * directories (the parent only when empty: other brokers' pins stay). */
static inline void remove_pins(const char *pin_root)
{
	static const char *const maps[] = { "hist", "order_viol", "queue_stats", "totals" };
	char p[320];

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", pin_root, maps[i]);
		unlink(p);
	}
	rmdir(pin_root);
	rmdir("/sys/fs/bpf/shmq");
}

#endif
