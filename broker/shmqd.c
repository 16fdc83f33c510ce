/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmqd: the shmq broker daemon. Configuration (embedded defaults < --config
 * file < flags; `shmqd --help`), logging, then the control server
 * (broker/server.h) and, with `[net] listen`, the remote port
 * (broker/remote.h) until SIGTERM or SIGINT.
 *
 * Exit status: 0 after a clean shutdown (also after --help, --version,
 * --print-config); 1 if start-up or shutdown failed; 2 for a bad
 * configuration.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/shm_guard.h"
#include "broker/config.h"
#include "broker/log.h"
#include "broker/remote.h"
#include "broker/server.h"

int main(int argc, char **argv)
{
	static struct shmq_broker_config cfg; /* ~20 KiB of paths: not on the stack */
	char err[1024] = "";

	int rc = shmq_broker_config_from_args(&cfg, argc, argv, stdout, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "shmqd: %s\n", err);
		shmq_broker_config_free(&cfg);
		return rc < 0 ? 2 : 0;
	}
	shmq_log_set_level(cfg.log_level);
	rc = shmq_log_open(cfg.log_file);
	if (rc < 0) {
		fprintf(stderr, "shmqd: log file %s: %s\n", cfg.log_file, strerror(-rc));
		shmq_broker_config_free(&cfg);
		return 1;
	}

	/* Before any thread exists (the store's flusher, the persister): the
	 * shutdown and reload signals are read from the server's signalfd
	 * only, and a client that goes away mid-send is an EPIPE, not a kill. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A client that shrinks a ring or offset table fences it, instead of
	 * killing the broker with SIGBUS (common/shm_guard.h). */
	rc = shmq_shm_guard_install();
	if (rc < 0)
		shmq_log_warn("shmqd", "shared-file guard not installed: %s", strerror(-rc));

	shmq_log_info("shmqd", "starting (config file: %s)",
		      cfg.config_file[0] ? cfg.config_file : "none, embedded defaults");
	shmq_server_t *srv = NULL;
	rc = shmq_server_create(&cfg, &srv, err, sizeof(err));
	if (rc < 0) {
		shmq_log_error("shmqd", "start-up failed: %s", err[0] ? err : strerror(-rc));
		shmq_log_close();
		shmq_broker_config_free(&cfg);
		return 1;
	}
	shmq_remote_t *remote = NULL;
	if (cfg.net_listen[0]) {
		rc = shmq_remote_start(srv, &cfg, &remote, err, sizeof(err));
		if (rc < 0) {
			shmq_log_error("shmqd", "remote port: %s", err[0] ? err : strerror(-rc));
			shmq_server_destroy(srv);
			shmq_log_close();
			shmq_broker_config_free(&cfg);
			return 1;
		}
	}
	shmq_server_set_remote(srv, remote);
	int run = shmq_server_run(srv);
	shmq_server_set_remote(srv, NULL);
	shmq_remote_stop(remote); /* before the state it serves goes away */
	int down = shmq_server_destroy(srv);
	shmq_log_info("shmqd", "stopped%s", run < 0 || down < 0 ? " with errors" : " cleanly");
	shmq_log_close();
	shmq_broker_config_free(&cfg);
	return run < 0 || down < 0 ? 1 : 0;
}
