/* SPDX-License-Identifier: Apache-2.0 */
/* Disk full (store.h S5): on a small tmpfs, appends fail with -ENOSPC, the
 * store is not poisoned, nothing stored is damaged, and appends resume once
 * space returns. Needs root (mount); exits 77 if the mount is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/mount.h>

#include "store_test_util.h"

#define SEG (256u * 1024u)
#define BODY 3000u

static char *g_mnt;
static char g_store[PATH_MAX];

static shmq_store_t *open_store(struct shmq_store_recovery_report *rep)
{
	SHMQ_STORE_OPTS(o, .dir = g_store, .segment_size = SEG, .max_msg_size = 8192,
			.cq_entries_per_file = 256, .index_slots = 64, .index_max_entries = 512,
			.flush_mode = SHMQ_FLUSH_SYNC);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&o, &s, rep), 0);
	return s;
}

static int append_i(shmq_store_t *s, unsigned i, struct shmq_store_result *r)
{
	static uint8_t body[BODY];
	fill_body(body, BODY, i);
	char keys[16];
	snprintf(keys, sizeof(keys), "k%u", i);
	struct shmq_store_msg m = { .topic = "full", .body = body, .body_len = BODY, .keys = keys };
	return shmq_store_append(s, &m, 1, r);
}

static void verify_all(shmq_store_t *s, unsigned n)
{
	static uint8_t body[BODY];
	for (unsigned i = 0; i < n; i++) {
		struct shmq_store_view v;
		assert_int_equal(shmq_store_read_queue(s, "full", 0, i, &v), 0); /* CRC checked */
		fill_body(body, BODY, i);
		assert_memory_equal(v.body, body, BODY);
		shmq_store_view_release(s, &v);
	}
}

static void test_full_disk_refuses_appends_with_enospc_and_recovers_when_space_returns(void **st)
{
	(void)st;
	char ballast[PATH_MAX + 16];
	snprintf(ballast, sizeof(ballast), "%s/ballast", g_mnt);
	int fd = open(ballast, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	/* leave ~3 MiB for the store: a few segments */
	assert_int_equal(posix_fallocate(fd, 0, 5 << 20), 0);
	close(fd);

	shmq_store_t *s = open_store(NULL);
	struct shmq_store_result r;
	unsigned n = 0;
	int rc;
	while ((rc = append_i(s, n, &r)) == 1) {
		n++;
		assert_true(n < 10000); /* the disk must fill up long before */
	}
	printf("disk full after %u messages (%u bytes each)\n", n, BODY);
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(r.status, -ENOSPC);
	assert_true(n > 0);
	/* not poisoned: what is stored can still be made durable and read */
	struct shmq_store_stats stats;
	shmq_store_stats(s, &stats);
	assert_int_equal(stats.poison_errno, 0);
	assert_true(stats.enospc >= 1);
	assert_int_equal(shmq_store_flush(s), 0);
	verify_all(s, n);
	/* still full: still refused, still nothing damaged */
	assert_int_equal(append_i(s, n, &r), -ENOSPC);

	/* space returns */
	assert_int_equal(unlink(ballast), 0);
	assert_int_equal(append_i(s, n, &r), 1);
	assert_int_equal(r.queue_offset, n); /* no queue offset was burnt */
	n++;
	for (unsigned k = 0; k < 20; k++, n++)
		assert_int_equal(append_i(s, n, &r), 1);
	assert_int_equal(shmq_store_wait_durable(s, r.commitlog_offset + r.size, 5000000000ull), 0);
	assert_int_equal(shmq_store_close(s), 0);

	/* reopen: every record verifies */
	struct shmq_store_recovery_report rep;
	s = open_store(&rep);
	assert_int_equal(rep.bytes_truncated, 0);
	verify_all(s, n);
	uint64_t off[2];
	assert_int_equal(shmq_store_query_key(s, "full", "k3", 0, UINT64_MAX, off, 2), 1);
	assert_int_equal(shmq_store_close(s), 0);
}

int main(void)
{
	g_mnt = make_tmpdir();
	if (mount("shmq-test", g_mnt, "tmpfs", 0, "size=8m") != 0) {
		fprintf(stderr, "SKIP: cannot mount a tmpfs on %s (%s); needs root\n", g_mnt,
			strerror(errno));
		rmdir(g_mnt);
		free(g_mnt);
		return 77;
	}
	snprintf(g_store, sizeof(g_store), "%s/store", g_mnt);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_full_disk_refuses_appends_with_enospc_and_recovers_when_space_returns),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	shmq_test_rmtree(g_store);
	if (umount2(g_mnt, MNT_DETACH) != 0)
		perror("umount");
	rmdir(g_mnt);
	free(g_mnt);
	return rc;
}
