/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/acl.h: the decision order 1-3 of its header. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/acl.h"

#define OWNER 4242u
#define P SHMQ_ACL_PRODUCE
#define C SHMQ_ACL_CONSUME
#define A SHMQ_ACL_ADMIN

static shmq_acl_t *make(unsigned def)
{
	shmq_acl_t *a = NULL;
	assert_int_equal(shmq_acl_create(&a, def, OWNER), 0);
	return a;
}

static void add(shmq_acl_t *a, const char *pat, const char *spec)
{
	char err[256] = "";
	int r = shmq_acl_add(a, pat, spec, err, sizeof(err));
	if (r != 0)
		fail_msg("add %s = %s: %d %s", pat, spec, r, err);
}

static void test_root_and_the_brokers_uid_are_always_allowed(void **state)
{
	(void)state;
	shmq_acl_t *a = make(0);
	add(a, "secret", "none");
	add(a, "*", "none");
	assert_int_equal(shmq_acl_check(a, 0, 0, "secret", P | C | A), 0);
	assert_int_equal(shmq_acl_check(a, OWNER, 999, "secret", P | C | A), 0);
	assert_int_equal(shmq_acl_check(a, 1000, 1000, "secret", P), -EACCES);
	assert_int_equal(shmq_acl_check(a, 1000, 1000, "other", C), -EACCES);
	shmq_acl_destroy(a);
}

static void test_without_a_matching_rule_the_default_rights_apply(void **state)
{
	(void)state;
	shmq_acl_t *deny = make(0), *ro = make(C);
	add(deny, "orders", "uid:1000:pc");
	add(ro, "orders", "uid:1000:pc");
	assert_int_equal(shmq_acl_check(deny, 1001, 1001, "payments", C), -EACCES);
	assert_int_equal(shmq_acl_check(ro, 1001, 1001, "payments", C), 0);
	assert_int_equal(shmq_acl_check(ro, 1001, 1001, "payments", P), -EACCES);
	shmq_acl_destroy(deny);
	shmq_acl_destroy(ro);
}

static void test_exact_beats_prefix_and_longer_prefix_beats_shorter(void **state)
{
	(void)state;
	shmq_acl_t *a = make(0);
	add(a, "*", "any:c");
	add(a, "ord*", "uid:1000:c");
	add(a, "orders.*", "uid:1000:pc");
	add(a, "orders.eu", "uid:1000:a");
	assert_int_equal(shmq_acl_check(a, 1000, 1, "orders.eu", A), 0);
	assert_int_equal(shmq_acl_check(a, 1000, 1, "orders.eu", P), -EACCES); /* exact alone decides */
	assert_int_equal(shmq_acl_check(a, 1000, 1, "orders.us", P | C), 0);  /* orders.* */
	assert_int_equal(shmq_acl_check(a, 1000, 1, "ordinal", P), -EACCES); /* ord*: c only */
	assert_int_equal(shmq_acl_check(a, 1000, 1, "ordinal", C), 0);
	assert_int_equal(shmq_acl_check(a, 7, 7, "anything", C), 0);         /* "*" */
	assert_int_equal(shmq_acl_check(a, 7, 7, "anything", P), -EACCES);
	/* a prefix matches the bare prefix too: "orders." is a valid name */
	assert_int_equal(shmq_acl_check(a, 1000, 1, "orders.", P), 0);
	/* case matters in topic names */
	assert_int_equal(shmq_acl_check(a, 1000, 1, "ORDERS.eu", A), -EACCES);
	shmq_acl_destroy(a);
}

static void test_a_matching_rule_never_falls_through_to_a_less_specific_one(void **state)
{
	(void)state;
	shmq_acl_t *a = make(P | C | A);
	add(a, "*", "any:pca");
	add(a, "audit.*", "uid:1000:c");
	assert_int_equal(shmq_acl_check(a, 1001, 1001, "audit.log", C), -EACCES);
	assert_int_equal(shmq_acl_check(a, 1000, 1001, "audit.log", C), 0);
	assert_int_equal(shmq_acl_check(a, 1001, 1001, "other", P | C | A), 0);
	shmq_acl_destroy(a);
}

static void test_rights_are_the_union_of_matching_uid_gid_and_any_entries(void **state)
{
	(void)state;
	shmq_acl_t *a = make(0);
	add(a, "t", " uid:1000:p , gid:50:c,any:- ");
	assert_int_equal(shmq_acl_check(a, 1000, 50, "t", P | C), 0);
	assert_int_equal(shmq_acl_check(a, 1000, 51, "t", C), -EACCES);
	assert_int_equal(shmq_acl_check(a, 1001, 50, "t", C), 0);
	assert_int_equal(shmq_acl_check(a, 1001, 50, "t", P), -EACCES);
	assert_int_equal(shmq_acl_check(a, 1000, 50, "t", A), -EACCES);
	shmq_acl_destroy(a);
}

static void test_bad_patterns_and_specs_are_refused_with_a_reason(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "", "any:c" },        { "a*b", "any:c" },       { "a b", "any:c" },
		{ "**", "any:c" },      { "t", "" },              { "t", " , " },
		{ "t", "uid:x:c" },     { "t", "uid:-1:c" },      { "t", "uid:4294967295:c" },
		{ "t", "uid:1:" },      { "t", "uid:1:pp" },      { "t", "uid:1:x" },
		{ "t", "user:1:c" },    { "t", "any" },           { "t", "gid:1" },
		{ "t", "uid:1:c,bad" }, { "t", "uid:99999999999999999999:c" },
	};
	shmq_acl_t *a = make(0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		assert_int_equal(shmq_acl_add(a, bad[i][0], bad[i][1], err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
	char pat[200];
	memset(pat, 'x', 128);
	pat[128] = '\0';
	assert_int_equal(shmq_acl_add(a, pat, "any:c", NULL, 0), -EINVAL);
	pat[127] = '*';
	assert_int_equal(shmq_acl_add(a, pat, "any:c", NULL, 0), 0); /* 127-byte prefix + '*' */
	add(a, "t", "any:c");
	assert_int_equal(shmq_acl_add(a, "t", "any:p", NULL, 0), -EEXIST);
	assert_int_equal(shmq_acl_count(a), 2);
	shmq_acl_destroy(a);
}

static void test_check_refuses_bad_rights_and_topic_names(void **state)
{
	(void)state;
	shmq_acl_t *a = make(P | C | A);
	assert_int_equal(shmq_acl_check(a, 5, 5, "ok", 0), -EINVAL);
	assert_int_equal(shmq_acl_check(a, 5, 5, "ok", 8), -EINVAL);
	assert_int_equal(shmq_acl_check(a, 5, 5, "no/way", C), -EINVAL);
	assert_int_equal(shmq_acl_check(a, 5, 5, "", C), -EINVAL);
	assert_int_equal(shmq_acl_check(NULL, 5, 5, "ok", C), -EINVAL);
	assert_int_equal(shmq_acl_parse_rights("cap"), P | C | A);
	assert_int_equal(shmq_acl_parse_rights("none"), 0);
	assert_int_equal(shmq_acl_parse_rights(""), -EINVAL);
	shmq_acl_destroy(a);
	shmq_acl_destroy(NULL);
	assert_int_equal(shmq_acl_create(&a, 8, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_and_the_brokers_uid_are_always_allowed),
		cmocka_unit_test(test_without_a_matching_rule_the_default_rights_apply),
		cmocka_unit_test(test_exact_beats_prefix_and_longer_prefix_beats_shorter),
		cmocka_unit_test(test_a_matching_rule_never_falls_through_to_a_less_specific_one),
		cmocka_unit_test(test_rights_are_the_union_of_matching_uid_gid_and_any_entries),
		cmocka_unit_test(test_bad_patterns_and_specs_are_refused_with_a_reason),
		cmocka_unit_test(test_check_refuses_bad_rights_and_topic_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
