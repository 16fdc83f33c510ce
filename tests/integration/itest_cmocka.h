/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file tests/integration/itest_cmocka.h
 * @brief The part of the integration harness that needs cmocka: the shared
 *        main() and teardown of every it_*.c (itest.h stays cmocka-free for
 *        the benchmarks).
 */
#ifndef SHMQ_TESTS_INTEGRATION_ITEST_CMOCKA_H
#define SHMQ_TESTS_INTEGRATION_ITEST_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "shmq/shmq.h"
#include "tests/integration/itest.h"

/**
 * @brief Run @p tests with @p shared (from itest_shared_alloc(@p len), the
 *        page forked children report through; NULL and 0 for none) and
 *        free it afterwards.
 * @return cmocka's result; 77 (skip) without a broker binary; 1 when
 *         @p shared is NULL (allocation failed).
 */
static inline int itest_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
				  void *shared, size_t len)
{
	int rc;

	if (!itest_shmqd_path()) {
		fprintf(stderr, "skip: env SHMQD does not name the shmqd binary\n");
		itest_shared_free(shared, len);
		return 77;
	}
	if (!shared && len)
		return 1;
	rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
	itest_shared_free(shared, len);
	return rc;
}

/** @brief cmocka teardown of a test whose prestate is a static itest_broker
 * (ITEST_BROKER_TEST): kill and remove everything it left. */
static inline int itest_teardown_prestate(void **state)
{
	itest_teardown(*state);
	return 0;
}

/** A test run on the file's static broker, torn down after it even when an
 * assertion failed. */
#define ITEST_BROKER_TEST(fn, broker) \
	cmocka_unit_test_prestate_setup_teardown(fn, NULL, itest_teardown_prestate, &(broker))

/** @brief cmocka teardown of a test whose state is a calloc'ed itest_broker:
 * a clean stop if it still runs, then kill and remove everything. */
static inline int itest_teardown_state(void **state)
{
	struct itest_broker *b = *state;

	if (b->pid)
		itest_broker_stop(b);
	itest_teardown(b);
	free(b);
	return 0;
}

/** @brief A client of @p b, or the test fails. */
static inline shmq_client_t *itest_connect(const struct itest_broker *b)
{
	shmq_client_t *c;
	int rc = shmq_client_open(b->sock, NULL, &c);

	if (rc < 0)
		fail_msg("connect to %s: %s", b->sock, shmq_strerror(rc));
	return c;
}

#define ITEST_RUN_GROUP(tests, shared, len) \
	itest_run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (shared), (len))

#endif
