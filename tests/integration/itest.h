/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tests/integration/itest.h
 * @brief Integration harness: real `shmqd` processes and forked clients.
 *
 * A broker runs as a child process on fresh scratch directories (store under
 * /tmp, rings under /dev/shm, both from mkdtemp) with the options a test
 * picks; it can be stopped cleanly (SIGTERM, exit 0 expected), killed
 * (SIGKILL) and restarted on the same directories. Producers and consumers
 * are forked children that use libshmq themselves and report through files
 * in the scratch directory or through shared anonymous memory; the parent
 * never holds a libshmq handle across fork().
 *
 * The broker binary comes from env SHMQD (meson sets it to the built
 * broker/shmqd). Its stderr goes to <base>/shmqd.log; itest_broker_dump_log()
 * prints the tail when a test fails.
 *
 * Free of cmocka so that `shmq-bench e2e` can use the same broker control.
 * Not thread-safe: one controlling thread per process.
 */
#ifndef SHMQ_TESTS_INTEGRATION_ITEST_H
#define SHMQ_TESTS_INTEGRATION_ITEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ITEST_MAX_ARGS 48
#define ITEST_PATH_MAX 256

struct itest_broker_opts {
	bool sync_flush;             /**< --flush-mode sync (else async) */
	const char *segment_size;    /**< "--segment-size" value; NULL = 16M */
	const char *ring_capacity;   /**< "--ring-capacity" value; NULL = 1M */
	const char *max_message_size;/**< NULL = 64K */
	const char *flush_interval_ms; /**< async flush period; NULL = broker default */
	const char *config_text;     /**< non-NULL: written to <base>/shmqd.ini, passed with --config */
	const char *extra[16];       /**< more argv words (e.g. "--acl", "t=uid:0:pca"), NULL-terminated */
};

struct itest_broker {
	char base[ITEST_PATH_MAX];   /**< /tmp/shmq-it-XXXXXX: store, socket, log, test files */
	char rings[ITEST_PATH_MAX];  /**< /dev/shm/shmq-it-XXXXXX */
	char sock[ITEST_PATH_MAX];   /**< <base>/shmqd.sock */
	char log[ITEST_PATH_MAX];    /**< <base>/shmqd.log */
	char *argv[ITEST_MAX_ARGS + 1];
	char argbuf[4096];
	pid_t pid;                   /**< 0 when not running */
	unsigned starts;
};

/** @brief The broker binary (env SHMQD), or NULL (then tests skip). */
const char *itest_shmqd_path(void);

/** @brief Seed from env SHMQ_SEED or the clock; printed. */
uint64_t itest_seed(const char *test);

/** @brief SHMQ_STRESS_SCALE (>= 1). */
unsigned itest_scale(void);

/**
 * @brief Make the scratch directories and start the broker on them; wait
 * until it answers a client HELLO (10 s).
 * @return 0; -ENOENT (no SHMQD); -ETIMEDOUT / -ECHILD (it never answered /
 *         exited: see the log); -errno.
 */
int itest_broker_start(struct itest_broker *b, const struct itest_broker_opts *o);

/** @brief Start again with the same argv on the same directories; wait until it answers. */
int itest_broker_restart(struct itest_broker *b);

/** @brief SIGTERM and wait (20 s, then SIGKILL). @return the exit code (0 = clean),
 *         128+signal if it died by a signal, or -ETIMEDOUT. */
int itest_broker_stop(struct itest_broker *b);

/** @brief SIGKILL and reap. */
void itest_broker_kill(struct itest_broker *b);

/** @brief Kill a running broker and remove both scratch trees. Safe to call twice. */
void itest_broker_cleanup(struct itest_broker *b);

/** @brief Print the last @p max_bytes of the broker log to stderr. */
void itest_broker_dump_log(const struct itest_broker *b, size_t max_bytes);

/** @brief A path under the base directory (for result files). */
void itest_path(const struct itest_broker *b, char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/**
 * @brief Fork; the child runs fn(arg) and _exit()s with its return value
 * (0 = success; children print their own diagnostics to stderr).
 * @return the child's pid, or -errno.
 */
pid_t itest_spawn(int (*fn)(void *arg), void *arg);

/**
 * @brief Wait for @p pid up to @p timeout_ms (then SIGKILL it).
 * @return its exit code, 128+signal when killed by a signal, or -ETIMEDOUT.
 */
int itest_wait(pid_t pid, unsigned timeout_ms);

/** @brief SIGKILL and reap @p pid. */
void itest_kill(pid_t pid);

/** @brief SIGKILL and reap every child itest_spawn() made that was not
 * reaped yet (test teardown after a failed assertion). */
void itest_kill_all(void);

/** @brief Test teardown: kill every child and the broker (even a frozen one)
 * and remove the scratch directories. */
void itest_teardown(struct itest_broker *b);

/** @brief Drop to uid/gid 65534 (nobody) in this process. 0 or -errno. */
int itest_drop_privileges(void);

/** @brief Shared anonymous memory that survives fork() (zeroed). NULL on failure. */
void *itest_shared_alloc(size_t len);
void itest_shared_free(void *p, size_t len);

/** @brief Monotonic ns (the same clock in every process). */
uint64_t itest_now_ns(void);

/** @brief Sleep @p ms milliseconds. */
void itest_sleep_ms(unsigned ms);

/** @brief Append-only binary record log that survives a SIGKILL of the writer
 * (every record is one write(2)). */
int itest_log_open(const char *path);
int itest_log_append(int fd, const void *rec, size_t len);
/** @brief Read a whole file (malloc'd, *len bytes). 0 or -errno. */
int itest_read_file(const char *path, void **out, size_t *len);


/* ------------------------------------------------------------------ */
/* Message bodies every integration test sends: a header naming the
 * message, then a pattern derived from it, so a receiver can check each
 * body byte for byte without knowing what was sent. */

struct itest_body_hdr {
	uint32_t producer;  /**< sending process (test-chosen index) */
	uint32_t key;       /**< sharding key index, or 0 */
	uint64_t seq;       /**< per (producer) or per (key) sequence */
	uint64_t ts_ns;     /**< itest_now_ns() at send */
};
#define ITEST_BODY_MIN ((uint32_t)sizeof(struct itest_body_hdr))

/** @brief Fill @p len (>= ITEST_BODY_MIN) bytes. */
void itest_body_fill(void *buf, uint32_t len, uint32_t producer, uint32_t key, uint64_t seq);
/** @brief Check a body; fills @p out. 0 or -EBADMSG (too short or a byte differs). */
int itest_body_check(const void *buf, uint32_t len, struct itest_body_hdr *out);

/** One delivery as a consumer process logs it (one write(2) each). */
struct itest_delivery {
	uint32_t queue;
	uint32_t producer;
	uint32_t key;
	uint32_t member;    /**< consumer slot * 100 + incarnation */
	uint64_t seq;
	uint64_t queue_offset;
	uint64_t t_ns;      /**< itest_now_ns() after the poll returned */
};

/** @brief A tiny deterministic generator (splitmix64). */
uint64_t itest_rand(uint64_t *state);

#endif
