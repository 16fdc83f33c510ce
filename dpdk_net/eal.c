/* SPDX-License-Identifier: Apache-2.0 */
/* EAL start-up: see dpdk_net/eal.h. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "dpdk_net/eal.h"

#define EAL_ARGV_MAX 64
#define EAL_ARGS_MAX 4096

/* 0 = never tried, 1 = running, <0 = the failure (DPDK cannot retry). One
 * thread starts DPDK (eal.h): plain statics are enough. */
static int eal_state;
static char eal_args[EAL_ARGS_MAX];

int shmq_net_eal_ready(void)
{
	return eal_state == 1;
}

static bool has_opt(char **argv, int argc, const char *const *names)
{
	for (int i = 0; i < argc; i++)
		for (const char *const *n = names; *n; n++) {
			size_t l = strlen(*n);
			/* "-l0" as well as "-l 0", "--lcores=..." as well as "--lcores ..." */
			bool short_opt = l == 2 && (*n)[0] == '-' && (*n)[1] != '-';
			if (!strncmp(argv[i], *n, l) && (short_opt || argv[i][l] == '\0' || argv[i][l] == '='))
				return true;
		}
	return false;
}

int shmq_net_eal_init(const char *args)
{
	if (!args)
		args = "";
	if (eal_state == 1)
		return strcmp(args, eal_args) ? -EALREADY : 0;
	if (eal_state < 0)
		return eal_state;
	if (strlen(args) >= sizeof(eal_args))
		return -EINVAL;
	/* rte_eal_init keeps pointers into argv: the storage is static */
	static char buf[EAL_ARGS_MAX];
	static char prefix[64];
	static char *argv[EAL_ARGV_MAX + 1];
	int argc = 0;
	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = "shmq";
	for (char *save = NULL, *t = strtok_r(buf, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save)) {
		if (argc >= EAL_ARGV_MAX - 6)
			return -EINVAL;
		argv[argc++] = t;
	}
	static const char *const pfx[] = { "--file-prefix", "--no-shconf", "--in-memory", NULL };
	static const char *const cores[] = { "-l", "-c", "--lcores", NULL };
	static const char *const tele[] = { "--no-telemetry", "--telemetry", NULL };
	bool own_prefix = !has_opt(argv, argc, pfx);
	if (own_prefix) {
		/* no runtime files at all (a --file-prefix directory under
		 * /var/run/dpdk would outlive the process); the prefix still
		 * keeps the rest apart from any other DPDK process */
		snprintf(prefix, sizeof(prefix), "shmq-%ld", (long)getpid());
		argv[argc++] = "--no-shconf";
		argv[argc++] = "--file-prefix";
		argv[argc++] = prefix;
	}
	if (!has_opt(argv, argc, cores)) {
		argv[argc++] = "-l";
		argv[argc++] = "0";
	}
	if (!has_opt(argv, argc, tele))
		argv[argc++] = "--no-telemetry";
	argv[argc] = NULL;
	/* a virtio-user or memif peer that dies must not kill us with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	int rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		eal_state = rte_errno > 0 ? -rte_errno : -EIO;
		return eal_state;
	}
	/* with --no-shconf the runtime directory stays empty: do not leave
	 * one per process behind (rmdir refuses if a PMD put a file there) */
	if (own_prefix)
		rmdir(rte_eal_get_runtime_dir());
	snprintf(eal_args, sizeof(eal_args), "%s", args);
	eal_state = 1;
	return 0;
}
