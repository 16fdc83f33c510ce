/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/log.h. */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/log.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq_log_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/shmqd.log", dir);
	shmq_log_set_level(SHMQ_LOG_INFO);
	return shmq_log_open(path);
}

static int teardown(void **state)
{
	(void)state;
	char p2[160];
	shmq_log_close();
	unlink(path);
	snprintf(p2, sizeof(p2), "%s/rotated.log", dir);
	unlink(p2);
	return rmdir(dir);
}

/* Whole file as a string (caller frees). */
static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, 4096, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void truncate_log(void)
{
	assert_int_equal(truncate(path, 0), 0); /* O_APPEND: next write lands at 0 */
}

static void test_a_line_has_utc_millisecond_timestamp_level_component_and_text(void **state)
{
	(void)state;
	truncate_log();
	shmq_log_warn("store", "disk %d%% full", 93);
	char *s = slurp(path);
	regex_t re;
	assert_int_equal(regcomp(&re,
		"^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}Z WARN  \\[store\\] disk 93% full\n$",
		REG_EXTENDED), 0);
	if (regexec(&re, s, 0, NULL, 0) != 0)
		fail_msg("bad line: '%s'", s);
	regfree(&re);
	free(s);
}

static void test_lines_above_the_level_are_dropped_and_the_level_changes_at_runtime(void **state)
{
	(void)state;
	truncate_log();
	shmq_log_set_level(SHMQ_LOG_WARN);
	shmq_log_info("t", "hidden-info");
	shmq_log_debug("t", "hidden-debug");
	shmq_log_error("t", "shown-error");
	shmq_log_set_level(SHMQ_LOG_DEBUG);
	shmq_log_debug("t", "shown-debug");
	shmq_log_set_level(99); /* clamped */
	assert_int_equal(shmq_log_get_level(), SHMQ_LOG_DEBUG);
	shmq_log_set_level(SHMQ_LOG_INFO);
	char *s = slurp(path);
	assert_null(strstr(s, "hidden"));
	assert_non_null(strstr(s, "ERROR [t] shown-error\n"));
	assert_non_null(strstr(s, "DEBUG [t] shown-debug\n"));
	free(s);
}

static void test_long_text_is_truncated_and_control_characters_cannot_forge_lines(void **state)
{
	(void)state;
	truncate_log();
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shmq_log_info("c", "%s", big);
	shmq_log_info("c", "evil\n2026-01-01T00:00:00.000Z ERROR [x] forged\r\x1b[31m");
	char *s = slurp(path);
	char *nl = strchr(s, '\n');
	assert_non_null(nl);
	assert_int_equal((size_t)(nl - s) + 1, SHMQ_LOG_LINE_MAX - 1);
	assert_memory_equal(nl - 3, "...", 3);
	char *second = nl + 1;
	assert_non_null(strstr(second, "evil 2026-01-01"));
	assert_int_equal(strchr(second, '\n') - second + 1, (long)strlen(second)); /* one line */
	free(s);
}

static void test_errno_is_preserved_and_level_names_parse(void **state)
{
	(void)state;
	errno = EDQUOT;
	shmq_log_info("c", "x");
	assert_int_equal(errno, EDQUOT);
	assert_int_equal(shmq_log_level_parse("DEBUG"), SHMQ_LOG_DEBUG);
	assert_int_equal(shmq_log_level_parse("warning"), SHMQ_LOG_WARN);
	assert_int_equal(shmq_log_level_parse("loud"), -EINVAL);
	assert_int_equal(shmq_log_level_parse(NULL), -EINVAL);
	assert_string_equal(shmq_log_level_name(SHMQ_LOG_ERROR), "error");
	assert_string_equal(shmq_log_level_name(12), "?");
}

static void test_reopen_moves_output_to_the_new_file(void **state)
{
	(void)state;
	char rotated[160];
	truncate_log();
	shmq_log_info("r", "before");
	snprintf(rotated, sizeof(rotated), "%s/rotated.log", dir);
	assert_int_equal(rename(path, rotated), 0);
	assert_int_equal(shmq_log_open(path), 0); /* logrotate's "reopen" */
	shmq_log_info("r", "after");
	char *a = slurp(rotated), *b = slurp(path);
	assert_non_null(strstr(a, "before"));
	assert_null(strstr(a, "after"));
	assert_non_null(strstr(b, "after"));
	assert_null(strstr(b, "before"));
	free(a);
	free(b);
	assert_int_equal(shmq_log_open("/nonexistent-dir/x.log"), -ENOENT);
}

#define THREADS 4

static long lines_per_thread(void)
{
	const char *sc = getenv("SHMQ_STRESS_SCALE");
	long s = sc ? atol(sc) : 1;
	return 5000 * (s < 1 ? 1 : s);
}

static void *writer(void *arg)
{
	long id = (long)(intptr_t)arg, n = lines_per_thread();
	for (long i = 0; i < n; i++)
		shmq_log_info("w", "thread=%ld seq=%ld pad=%0200d end", id, i, 0);
	return NULL;
}

static void test_concurrent_threads_never_interleave_or_lose_lines(void **state)
{
	(void)state;
	pthread_t th[THREADS];
	truncate_log();
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i), 0);
	/* the level flips under the writers: only ever info or debug here */
	for (int i = 0; i < 1000; i++)
		shmq_log_set_level(i & 1 ? SHMQ_LOG_DEBUG : SHMQ_LOG_INFO);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	shmq_log_set_level(SHMQ_LOG_INFO);

	char *s = slurp(path);
	long next[THREADS] = { 0 }, total = 0;
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long id, seq;
		const char *p = strstr(line, "INFO  [w] thread=");
		assert_non_null(p);
		assert_int_equal(sscanf(p, "INFO  [w] thread=%ld seq=%ld", &id, &seq), 2);
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(seq, next[id]); /* per-thread order kept, nothing lost */
		next[id]++;
		assert_non_null(strstr(line, " end"));
		assert_int_equal(strlen(strstr(line, " end")), 4); /* the line ends right there */
		total++;
	}
	assert_int_equal(total, THREADS * lines_per_thread());
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_line_has_utc_millisecond_timestamp_level_component_and_text),
		cmocka_unit_test(test_lines_above_the_level_are_dropped_and_the_level_changes_at_runtime),
		cmocka_unit_test(test_long_text_is_truncated_and_control_characters_cannot_forge_lines),
		cmocka_unit_test(test_errno_is_preserved_and_level_names_parse),
		cmocka_unit_test(test_reopen_moves_output_to_the_new_file),
		cmocka_unit_test(test_concurrent_threads_never_interleave_or_lose_lines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
