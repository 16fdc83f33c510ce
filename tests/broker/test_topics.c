/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/topics.h (guarantees T1-T3). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/topics.h"
#include "shmq/error.h"
#include "tests/common/tmpdir.h"

static char dir[64];
static char file[128];


static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq_topics_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/config/topics.json", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return shmq_test_rmtree(dir);
}

static shmq_topics_t *open_ok(void)
{
	shmq_topics_t *t = NULL;
	char err[512] = "";
	int r = shmq_topics_open(&t, dir, err, sizeof(err));
	if (r != 0)
		fail_msg("open: %d %s", r, err);
	return t;
}

static void write_file(const char *p, const char *content, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
}

static void test_created_topics_are_found_listed_in_order_and_survive_reopen(void **state)
{
	(void)state;
	shmq_topics_t *t = open_ok();
	struct shmq_topic_info ti, list[8];
	uint32_t total = 0;
	assert_int_equal(shmq_topics_count(t), 0);
	assert_int_equal(shmq_topics_create(t, "orders", 4, &ti), 0);
	assert_string_equal(ti.name, "orders");
	assert_int_equal(ti.queues, 4);
	assert_true(ti.created_ns > 0);
	assert_int_equal(shmq_topics_create(t, "audit.log", 1, NULL), 0);
	assert_int_equal(shmq_topics_create(t, "Zeta|%-_.9", 1024, NULL), 0);
	assert_int_equal(shmq_topics_lookup(t, "orders", &ti), 0);
	assert_int_equal(ti.queues, 4);
	assert_int_equal(shmq_topics_lookup(t, "nope", &ti), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_topics_list(t, 0, list, 8, &total), 3);
	assert_int_equal(total, 3);
	assert_string_equal(list[0].name, "Zeta|%-_.9"); /* strcmp order */
	assert_string_equal(list[1].name, "audit.log");
	assert_string_equal(list[2].name, "orders");
	assert_int_equal(shmq_topics_list(t, 1, list, 1, &total), 1);
	assert_string_equal(list[0].name, "audit.log");
	assert_int_equal(shmq_topics_list(t, 3, list, 8, NULL), 0);
	uint64_t created = 0;
	assert_int_equal(shmq_topics_lookup(t, "orders", &ti), 0);
	created = ti.created_ns;
	shmq_topics_close(t);

	t = open_ok();
	assert_int_equal(shmq_topics_count(t), 3);
	assert_int_equal(shmq_topics_lookup(t, "orders", &ti), 0);
	assert_int_equal(ti.queues, 4);
	assert_int_equal(ti.created_ns, created);
	assert_int_equal(shmq_topics_lookup(t, "Zeta|%-_.9", &ti), 0);
	assert_int_equal(ti.queues, 1024);
	shmq_topics_close(t);
}

static void test_bad_names_and_queue_counts_are_refused_and_duplicates_exist(void **state)
{
	(void)state;
	shmq_topics_t *t = open_ok();
	struct shmq_topic_info ti;
	char big[200];
	memset(big, 'a', 128);
	big[128] = '\0';
	assert_int_equal(shmq_topics_create(t, "", 1, NULL), -EINVAL);
	assert_int_equal(shmq_topics_create(t, big, 1, NULL), -EINVAL);
	assert_int_equal(shmq_topics_create(t, "a/b", 1, NULL), -EINVAL);
	assert_int_equal(shmq_topics_create(t, "ok", 0, NULL), -EINVAL);
	assert_int_equal(shmq_topics_create(t, "ok", 1025, NULL), -EINVAL);
	assert_int_equal(shmq_topics_lookup(t, "a b", NULL), -EINVAL);
	big[127] = '\0';
	assert_int_equal(shmq_topics_create(t, big, 2, NULL), 0);
	assert_int_equal(shmq_topics_create(t, big, 3, &ti), -EEXIST);
	assert_int_equal(ti.queues, 2); /* the existing topic */
	assert_int_equal(shmq_topics_count(t), 1);
	shmq_topics_close(t);
}

static void test_a_failed_write_changes_neither_file_nor_registry(void **state)
{
	(void)state;
	shmq_topics_t *t = open_ok();
	char tmp[160];
	assert_int_equal(shmq_topics_create(t, "keep", 2, NULL), 0);
	struct stat before, after;
	assert_int_equal(stat(file, &before), 0);
	/* a directory where the temporary file goes makes the write fail, even
	 * for root */
	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(shmq_topics_create(t, "lost", 2, NULL), -EISDIR);
	assert_int_equal(shmq_topics_lookup(t, "lost", NULL), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_topics_count(t), 1);
	assert_int_equal(stat(file, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(rmdir(tmp), 0);
	/* and a stale regular tmp file (crash before rename) is just replaced */
	write_file(tmp, "garbage", 7);
	assert_int_equal(shmq_topics_create(t, "later", 1, NULL), 0);
	shmq_topics_close(t);
	t = open_ok();
	assert_int_equal(shmq_topics_count(t), 2);
	assert_int_equal(shmq_topics_lookup(t, "later", NULL), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	shmq_topics_close(t);
}

static void expect_corrupt(const char *content, size_t len)
{
	shmq_topics_t *t = NULL;
	char err[512] = "";
	write_file(file, content, len);
	int r = shmq_topics_open(&t, dir, err, sizeof(err));
	if (r != SHMQ_ECORRUPT)
		fail_msg("expected SHMQ_ECORRUPT for <%.*s>, got %d (%s)", (int)len, content, r, err);
	assert_null(t);
	assert_non_null(strstr(err, "topics.json"));
}

static void test_corrupt_registry_files_give_a_clear_error_never_a_crash(void **state)
{
	(void)state;
	shmq_topics_close(open_ok()); /* creates config/ */
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"null",
		"{\"version\": 1}",
		"{\"version\": 2, \"topics\": []}",
		"{\"version\": \"1\", \"topics\": []}",
		"{\"version\": 1, \"topics\": {}}",
		"{\"version\": 1, \"topics\": [], \"extra\": 1}",
		"{\"version\": 1, \"topics\": [1]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1, \"created_ns\": 0, \"x\": 1}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a b\", \"queues\": 1, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"\", \"queues\": 1, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\\u0000b\", \"queues\": 1, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": 5, \"queues\": 1, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 0, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1025, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1.5, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 99999999999999999999999, \"created_ns\": 0}]}",
		"{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1, \"created_ns\": -1}]}",
		("{\"version\": 1, \"topics\": [{\"name\": \"a\", \"queues\": 1, \"created_ns\": 0},"
		 " {\"name\": \"a\", \"queues\": 2, \"created_ns\": 0}]}"),
		"{\"version\": 1, \"topics\": []} trailing",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_corrupt(bad[i], strlen(bad[i]));

	/* every truncation of a valid registry is refused */
	shmq_topics_t *t;
	assert_int_equal(unlink(file), 0);
	t = open_ok();
	assert_int_equal(shmq_topics_create(t, "one", 1, NULL), 0);
	assert_int_equal(shmq_topics_create(t, "two", 2, NULL), 0);
	shmq_topics_close(t);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	char *good = malloc((size_t)st.st_size);
	int fd = open(file, O_RDONLY);
	assert_int_equal(read(fd, good, (size_t)st.st_size), st.st_size);
	close(fd);
	/* the pretty printer ends the text with '}': strictly shorter prefixes
	 * are all incomplete JSON */
	size_t end = (size_t)st.st_size;
	while (end > 0 && good[end - 1] != '}')
		end--;
	for (size_t len = 0; len < end; len++)
		expect_corrupt(good, len);
	write_file(file, good, (size_t)st.st_size);
	t = open_ok();
	assert_int_equal(shmq_topics_count(t), 2);
	shmq_topics_close(t);
	free(good);
}

#define THREADS 4
static shmq_topics_t *shared;
static _Atomic int created_count;

static void *racer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 40; i++) {
		char name[32];
		struct shmq_topic_info ti;
		snprintf(name, sizeof(name), "auto.%d", i);
		int r = shmq_topics_get_or_create(shared, name, 3, &ti);
		if (r == 1)
			created_count++;
		else if (r != 0)
			return (void *)1;
		if (ti.queues != 3 || strcmp(ti.name, name) != 0)
			return (void *)2;
	}
	return NULL;
}

static void test_concurrent_get_or_create_makes_each_topic_exactly_once(void **state)
{
	(void)state;
	shared = open_ok();
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		pthread_join(th[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(created_count, 40);
	assert_int_equal(shmq_topics_count(shared), 40);
	shmq_topics_close(shared);
	shared = open_ok();
	assert_int_equal(shmq_topics_count(shared), 40);
	shmq_topics_close(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_created_topics_are_found_listed_in_order_and_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_queue_counts_are_refused_and_duplicates_exist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_write_changes_neither_file_nor_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_registry_files_give_a_clear_error_never_a_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_get_or_create_makes_each_topic_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
