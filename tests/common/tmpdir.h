/* SPDX-License-Identifier: Apache-2.0 */
/* Scratch directories for tests: every test that writes files makes one with
 * mkdtemp and removes it, whole, at the end. */
#ifndef SHMQ_TESTS_COMMON_TMPDIR_H
#define SHMQ_TESTS_COMMON_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

static inline int shmq_test_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Remove @p path and everything below it, never following symlinks. */
static inline int shmq_test_rmtree(const char *path)
{
	return nftw(path, shmq_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
