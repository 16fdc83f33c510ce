/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/config.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/config.h"
#include "broker/log.h"

static char dir[64];
static char ini[128];
static char err[1024];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq_config_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(ini, sizeof(ini), "%s/shmqd.ini", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char p[160];
	unlink(ini);
	snprintf(p, sizeof(p), "%s/printed.ini", dir);
	unlink(p);
	return rmdir(dir);
}

static void write_ini(const char *text)
{
	FILE *f = fopen(ini, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* argv from a NULL-terminated list (getopt may permute, so copy) */
static int run_args(struct shmq_broker_config *c, FILE *out, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	argv[argc++] = (char *)"shmqd";
	va_start(ap, out);
	for (char *a; (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return shmq_broker_config_from_args(c, argc, argv, out, err, sizeof(err));
}

static void test_embedded_defaults_work_without_any_file_or_flag(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	setenv("XDG_RUNTIME_DIR", "/run/user/4321", 1);
	assert_int_equal(run_args(&c, stdout, NULL), 0);
	assert_string_equal(c.broker_name, "shmqd");
	assert_int_equal(c.broker_id, 0);
	assert_string_equal(c.base_dir, "/run/user/4321/shmq");
	assert_string_equal(c.store_dir, "/run/user/4321/shmq/store");
	assert_string_equal(c.ring_dir, "/run/user/4321/shmq/rings");
	assert_string_equal(c.control_socket, "/run/user/4321/shmq/shmqd.sock");
	assert_int_equal(c.segment_size, 1ull << 30);
	assert_int_equal(c.max_message_size, 1ull << 20);
	assert_int_equal(c.flush_mode, SHMQ_BROKER_FLUSH_ASYNC);
	assert_int_equal(c.flush_interval_ms, 500);
	assert_int_equal(c.ring_capacity, 4ull << 20);
	assert_int_equal(c.unblock_timeout_ms, 1000);
	assert_int_equal(c.retention_hours, 72);
	assert_int_equal(c.disk_max_used_ratio, 75);
	assert_false(c.auto_create_topics);
	assert_int_equal(c.default_queues, 4);
	assert_int_equal(c.offset_persist_interval_ms, 5000);
	assert_int_equal(c.revoke_timeout_ms, 10000);
	assert_int_equal(c.retention_check_interval_ms, 60000);
	assert_int_equal(c.shutdown_drain_ms, 5000);
	assert_string_equal(c.pid_file, "");
	assert_int_equal(c.log_level, SHMQ_LOG_INFO);
	assert_string_equal(c.log_file, "");
	assert_int_equal(c.acl_default_rights, 0);
	assert_int_equal(c.nacl, 0);
	assert_string_equal(c.config_file, "");
	shmq_broker_config_free(&c);

	/* no usable XDG_RUNTIME_DIR: a per-user directory under /tmp */
	char want[64];
	snprintf(want, sizeof(want), "/tmp/shmq-%u", (unsigned)getuid());
	setenv("XDG_RUNTIME_DIR", "relative/path", 1);
	assert_int_equal(run_args(&c, stdout, NULL), 0);
	assert_string_equal(c.base_dir, want);
	shmq_broker_config_free(&c);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(run_args(&c, stdout, NULL), 0);
	assert_string_equal(c.base_dir, want);
	shmq_broker_config_free(&c);
}

static void test_file_overrides_defaults_and_flags_override_the_file(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	write_ini("; comment\n"
		  "# another\n"
		  "[broker]\n"
		  "name = edge-1\n"
		  "id = 17\n"
		  "\n"
		  "[paths]\n"
		  "base_dir = /srv/shmq\n"
		  "store_dir = \"/data/shmq store\"\n"
		  "[store]\n"
		  "segment_size = 64M   ; inline comment\n"
		  "max_message_size = 512KiB\n"
		  "flush_mode = sync\n"
		  "retention_hours = 24\n"
		  "[ring]\n"
		  "capacity = 8M\n"
		  "[topics]\n"
		  "auto_create = yes\n"
		  "default_queues = 8\n"
		  "[log]\n"
		  "level = debug\n");
	assert_int_equal(run_args(&c, stdout, "--retention-hours", "48", "--config", ini,
				  "--broker-id=18", NULL), 0);
	assert_string_equal(c.broker_name, "edge-1");
	assert_int_equal(c.broker_id, 18); /* flag wins, even before --config */
	assert_string_equal(c.base_dir, "/srv/shmq");
	assert_string_equal(c.store_dir, "/data/shmq store");
	assert_string_equal(c.ring_dir, "/srv/shmq/rings");
	assert_int_equal(c.segment_size, 64ull << 20);
	assert_int_equal(c.max_message_size, 512ull << 10);
	assert_int_equal(c.flush_mode, SHMQ_BROKER_FLUSH_SYNC);
	assert_int_equal(c.retention_hours, 48);
	assert_int_equal(c.ring_capacity, 8ull << 20);
	assert_true(c.auto_create_topics);
	assert_int_equal(c.default_queues, 8);
	assert_int_equal(c.log_level, SHMQ_LOG_DEBUG);
	assert_string_equal(c.config_file, ini);
	shmq_broker_config_free(&c);
}

static void expect_file_error(const char *text, const char *needle)
{
	struct shmq_broker_config c;
	write_ini(text);
	int r = run_args(&c, stdout, "--config", ini, NULL);
	if (r != -EINVAL || !strstr(err, needle))
		fail_msg("for <%s>: expected -EINVAL with '%s', got %d '%s'", text, needle, r, err);
	shmq_broker_config_free(&c);
}

static void test_file_errors_name_the_file_line_and_problem(void **state)
{
	(void)state;
	char where[400];
	snprintf(where, sizeof(where), "%s:3: unknown key 'segmentsize' in [store]", ini);
	expect_file_error("[store]\nsegment_size = 1G\nsegmentsize = 1G\n", where);
	snprintf(where, sizeof(where), "%s:2: unknown section [stor]", ini);
	expect_file_error("\n[stor]\n", where);
	snprintf(where, sizeof(where), "%s:1: key 'id' outside any [section]", ini);
	expect_file_error("id = 3\n[broker]\n", where);
	snprintf(where, sizeof(where), "%s:3: duplicate key 'ID' in [broker] (first at line 2", ini);
	expect_file_error("[broker]\nid = 1\nID = 2\n", where);
	snprintf(where, sizeof(where), "%s:2: store.retention_hours: 0 is out of range [1, 87600]", ini);
	expect_file_error("[store]\nretention_hours = 0\n", where);
	snprintf(where, sizeof(where), "%s:2: store.flush_interval_ms: '-5' is not a decimal number", ini);
	expect_file_error("[store]\nflush_interval_ms = -5\n", where);
	expect_file_error("[store]\nflush_interval_ms = 5ms\n", "is not a decimal number");
	expect_file_error("[store]\nflush_interval_ms = 99999999999999999999999\n", "out of range");
	expect_file_error("[store]\nsegment_size = 12X\n", "is not a size");
	expect_file_error("[store]\nsegment_size = 99999999999T\n", "out of range");
	expect_file_error("[store]\nflush_mode = sometimes\n", "neither async nor sync");
	expect_file_error("[topics]\nauto_create = maybe\n", "not a boolean");
	expect_file_error("[log]\nlevel = loud\n", "not a log level");
	expect_file_error("[broker]\nname = has space\n", "is not a name");
	expect_file_error("[broker]\nacl_default = rwx\n", "not a set of rights");
	expect_file_error("[broker]\nno equals sign\n", "expected 'key = value'");
	expect_file_error("[broker\nid = 1\n", "'[' without ']'");
	/* cross-field checks */
	expect_file_error("[store]\nsegment_size = 65535\n", "out of range");
	expect_file_error("[store]\nsegment_size = 98765\n", "not a multiple of 4096");
	expect_file_error("[ring]\ncapacity = 12K\n", "not a power of two");
	expect_file_error("[ring]\ncapacity = 1M\n", "exceeds ring.capacity/4");
	expect_file_error("[store]\nsegment_size = 1M\nmax_message_size = 600K\n", "exceeds store.segment_size/2");
	expect_file_error("[paths]\nbase_dir = relative\n", "must be an absolute path");
	expect_file_error("[paths]\ncontrol_socket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
			  "longer than the 107 bytes");
	/* a missing file */
	struct shmq_broker_config c;
	assert_int_equal(run_args(&c, stdout, "--config", "/nonexistent/shmqd.ini", NULL), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/shmqd.ini: cannot open"));
	shmq_broker_config_free(&c);
}

static void test_flag_errors_name_the_flag(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	assert_int_equal(run_args(&c, stdout, "--ring-capacity", "3000", NULL), -EINVAL);
	assert_non_null(strstr(err, "--ring-capacity: ring.capacity: 3000 is out of range"));
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "--no-such-flag", NULL), -EINVAL);
	assert_non_null(strstr(err, "--no-such-flag"));
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "--segment-size", NULL), -EINVAL); /* missing value */
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "stray", NULL), -EINVAL);
	assert_non_null(strstr(err, "unexpected argument 'stray'"));
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "--acl", "orders", NULL), -EINVAL);
	assert_non_null(strstr(err, "PATTERN=SPEC"));
	shmq_broker_config_free(&c);
}

static void test_acl_lines_keep_their_case_and_build_the_acl(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	shmq_acl_t *acl;
	write_ini("[broker]\nacl_default = c\n"
		  "[acl]\n"
		  "Orders.* = uid:1000:pc, gid:50:c\n"
		  "orders.* = uid:2000:p\n");
	/* iniparser folds key case: two patterns differing only in case are refused */
	assert_int_equal(run_args(&c, stdout, "--config", ini, NULL), -EINVAL);
	assert_non_null(strstr(err, ":5: duplicate key 'orders.*' in [acl] (first at line 4; keys are case-insensitive"));
	shmq_broker_config_free(&c);

	write_ini("[broker]\nacl_default = c\n"
		  "[acl]\n"
		  "Orders.* = uid:1000:pc, gid:50:c\n"
		  "secret = none\n");
	assert_int_equal(run_args(&c, stdout, "--config", ini, "--acl", "audit=any:a", NULL), 0);
	assert_int_equal(c.nacl, 3);
	assert_string_equal(c.acl[0].pattern, "Orders.*");
	assert_string_equal(c.acl[0].spec, "uid:1000:pc, gid:50:c");
	assert_string_equal(c.acl[2].origin, "--acl");
	assert_int_equal(shmq_broker_config_build_acl(&c, &acl, err, sizeof(err)), 0);
	uid_t me = geteuid();
	assert_int_equal(shmq_acl_check(acl, 1000, 7, "Orders.eu", SHMQ_ACL_PRODUCE), 0);
	assert_int_equal(shmq_acl_check(acl, 3000, 50, "Orders.eu", SHMQ_ACL_PRODUCE),
			 me == 3000 ? 0 : -EACCES);
	assert_int_equal(shmq_acl_check(acl, 3000, 50, "orders.eu", SHMQ_ACL_CONSUME), 0); /* default c */
	assert_int_equal(shmq_acl_check(acl, 3000, 50, "orders.eu", SHMQ_ACL_PRODUCE),
			 me == 3000 ? 0 : -EACCES);
	assert_int_equal(shmq_acl_check(acl, 3000, 3000, "audit", SHMQ_ACL_ADMIN), 0);
	assert_int_equal(shmq_acl_check(acl, 3000, 3000, "secret", SHMQ_ACL_CONSUME),
			 me == 3000 ? 0 : -EACCES);
	shmq_acl_destroy(acl);
	shmq_broker_config_free(&c);

	char where[400];
	snprintf(where, sizeof(where), "%s:2: [acl] orders: bad rights 'x'", ini);
	expect_file_error("[acl]\norders = uid:5:x\n", where);
	expect_file_error("[acl]\nbad/pat = any:c\n", "bad topic pattern");
}

static void test_printed_config_loads_back_to_the_same_values(void **state)
{
	(void)state;
	struct shmq_broker_config a, b;
	char printed[160];
	snprintf(printed, sizeof(printed), "%s/printed.ini", dir);
	assert_int_equal(run_args(&a, stdout, "--segment-size", "96K", "--flush-mode", "sync",
				  "--store-dir", "/x/y", "--auto-create-topics", "on", "--log-level",
				  "warn", "--acl-default", "pc", "--acl", "t.*=uid:5:pca,any:c",
				  "--disk-max-used-ratio", "90", "--max-message-size", "1000", NULL), 0);
	FILE *f = fopen(printed, "w");
	assert_non_null(f);
	shmq_broker_config_print(&a, f);
	fclose(f);
	assert_int_equal(run_args(&b, stdout, "--config", printed, NULL), 0);
	/* every scalar field equal: compare the structs with the owned and
	 * provenance fields blanked */
	struct shmq_broker_config x, y;
	memcpy(&x, &a, sizeof(x)); /* memcpy, not assignment: padding too */
	memcpy(&y, &b, sizeof(y));
	x.acl = y.acl = NULL;
	memset(x.config_file, 0, sizeof(x.config_file));
	memset(y.config_file, 0, sizeof(y.config_file));
	assert_memory_equal(&x, &y, sizeof(x));
	assert_int_equal(b.nacl, 1);
	assert_string_equal(b.acl[0].pattern, "t.*");
	assert_string_equal(b.acl[0].spec, "uid:5:pca,any:c");
	shmq_broker_config_free(&a);
	shmq_broker_config_free(&b);

	/* --print-config prints the same and asks the caller to exit */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_int_equal(run_args(&a, m, "--print-config", "--ring-capacity", "16M", NULL), 1);
	fclose(m);
	assert_non_null(strstr(buf, "[ring]\ncapacity = 16M\n"));
	free(buf);
	shmq_broker_config_free(&a);
}

static void test_net_listen_needs_a_known_scheme_and_an_absolute_secret_file(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	assert_int_equal(run_args(&c, stdout, "--net-listen", "tcp://127.0.0.1:1", "--net-secret-file", "/s", NULL),
			 -EINVAL);
	assert_non_null(strstr(err, "net.listen"));
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "--net-listen", "udp://127.0.0.1:7600", NULL), -EINVAL);
	assert_non_null(strstr(err, "net.secret_file"));
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, "--net-listen", "udp://127.0.0.1:7600", "--net-secret-file",
				  "/etc/shmq/net.secret", NULL), 0);
	assert_string_equal(c.net_listen, "udp://127.0.0.1:7600");
	assert_string_equal(c.net_secret_file, "/etc/shmq/net.secret");
	shmq_broker_config_free(&c);
	assert_int_equal(run_args(&c, stdout, NULL), 0);
	assert_string_equal(c.net_listen, ""); /* off by default */
	shmq_broker_config_free(&c);
}

static void test_help_documents_every_option_that_print_shows(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	char *help = NULL, *dump = NULL;
	size_t hl = 0, dl = 0;
	FILE *h = open_memstream(&help, &hl);
	assert_int_equal(run_args(&c, h, "--help", NULL), 1);
	fclose(h);
	shmq_broker_config_free(&c);
	FILE *d = open_memstream(&dump, &dl);
	assert_int_equal(run_args(&c, d, "--print-config", NULL), 1);
	fclose(d);
	shmq_broker_config_free(&c);

	/* every key of the effective config appears in --help as (section.key */
	char section[32] = "";
	int keys = 0;
	char *save = NULL;
	for (char *line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		if (line[0] == ';')
			continue;
		if (sscanf(line, "[%31[^]]]", section) == 1)
			continue;
		assert_int_equal(sscanf(line, "%63s =", key), 1);
		char needle[128];
		snprintf(needle, sizeof(needle), "(%s.%s, default: ", section, key);
		if (!strstr(help, needle))
			fail_msg("--help does not document %s.%s", section, key);
		keys++;
	}
	assert_int_equal(keys, 28); /* 24 + the four [net] keys */
	assert_non_null(strstr(help, "--segment-size VALUE"));
	assert_non_null(strstr(help, "--config FILE"));
	assert_non_null(strstr(help, "--acl PATTERN=SPEC"));
	free(help);
	free(dump);

	char *v = NULL;
	size_t vl = 0;
	FILE *vf = open_memstream(&v, &vl);
	assert_int_equal(run_args(&c, vf, "-V", NULL), 1);
	fclose(vf);
	assert_non_null(strstr(v, "shmqd "));
	free(v);
	shmq_broker_config_free(&c);
}

static void test_set_by_section_and_key(void **state)
{
	(void)state;
	struct shmq_broker_config c;
	shmq_broker_config_defaults(&c);
	assert_int_equal(shmq_broker_config_set(&c, "ring", "unblock_timeout_ms", "250", "api", err, sizeof(err)), 0);
	assert_int_equal(c.unblock_timeout_ms, 250);
	assert_int_equal(shmq_broker_config_set(&c, "ring", "nope", "1", "api", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "api: unknown key 'nope' in [ring]");
	assert_int_equal(shmq_broker_config_set(&c, "broker", "id", "4294967295", "api", err, sizeof(err)), -EINVAL);
	assert_int_equal(shmq_broker_config_set(&c, "broker", "id", "4294967294", "api", err, sizeof(err)), 0);
	assert_int_equal(c.broker_id, 4294967294u);
	shmq_broker_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_defaults_work_without_any_file_or_flag),
		cmocka_unit_test(test_file_overrides_defaults_and_flags_override_the_file),
		cmocka_unit_test(test_file_errors_name_the_file_line_and_problem),
		cmocka_unit_test(test_flag_errors_name_the_flag),
		cmocka_unit_test(test_acl_lines_keep_their_case_and_build_the_acl),
		cmocka_unit_test(test_printed_config_loads_back_to_the_same_values),
		cmocka_unit_test(test_net_listen_needs_a_known_scheme_and_an_absolute_secret_file),
		cmocka_unit_test(test_help_documents_every_option_that_print_shows),
		cmocka_unit_test(test_set_by_section_and_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
