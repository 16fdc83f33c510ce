/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A real Prometheus server for the tests/ebpf tests: started on loopback (a
 * free port) with a generated configuration that scrapes one target every
 * second, its storage in a fresh directory under the caller's scratch
 * directory, and instant queries over its HTTP API. Header-only,
 * cmocka-free (returns errors; the tests assert).
 */
#ifndef SHMQ_TESTS_EBPF_PROM_UTIL_H
#define SHMQ_TESTS_EBPF_PROM_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "probe_test_util.h"

struct prom {
	struct child c;
	unsigned port;
	char dir[320];
	char log[352];
};

static inline int prom_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

/* A free loopback port (closed again: the small race is harmless here); 0 on failure. */
static inline unsigned prom_free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	unsigned port = 0;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

/* Starts `binary` scraping 127.0.0.1:target_port every second, state under
 * <scratch>/prom. 0 or -errno. */
static inline int prom_start(struct prom *p, const char *binary, const char *scratch,
	unsigned target_port)
{
	memset(p, 0, sizeof(*p));
	p->c.in = -1;
	char cfg[352], tsdb[352];
	if (snprintf(p->dir, sizeof(p->dir), "%s/prom", scratch) >= (int)sizeof(p->dir))
		return -ENAMETOOLONG;
	snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", p->dir);
	snprintf(tsdb, sizeof(tsdb), "%s/tsdb", p->dir);
	snprintf(p->log, sizeof(p->log), "%s/prometheus.log", p->dir);
	if (mkdir(p->dir, 0700) != 0)
		return -errno;
	FILE *f = fopen(cfg, "w");
	if (f == NULL)
		return -errno;
	fprintf(f, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
		   "scrape_configs:\n  - job_name: shmq\n    static_configs:\n"
		   "      - targets: ['127.0.0.1:%u']\n", target_port);
	if (fclose(f) != 0)
		return -EIO;
	p->port = prom_free_port();
	if (p->port == 0)
		return -EADDRNOTAVAIL;
	char a_cfg[384], a_tsdb[384], a_web[64];
	snprintf(a_cfg, sizeof(a_cfg), "--config.file=%s", cfg);
	snprintf(a_tsdb, sizeof(a_tsdb), "--storage.tsdb.path=%s", tsdb);
	snprintf(a_web, sizeof(a_web), "--web.listen-address=127.0.0.1:%u", p->port);
	char *argv[] = { (char *)binary, a_cfg, a_tsdb, a_web, NULL };
	return spawn_err(&p->c, argv, NULL, p->log);
}

/* The first result's value of an instant query (URL-encoded `query`), as
 * Prometheus answers it (a string), or "" while there is none yet. */
static inline void prom_query(const struct prom *p, const char *query, char *val, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "/api/v1/query?query=%s", query);
	val[0] = '\0';
	char *r = http_get_port(p->port, path);
	if (r == NULL)
		return;
	char *body = strstr(r, "\r\n\r\n");
	json_object *j = body ? json_tokener_parse(body + 4) : NULL, *data, *res, *v;
	if (j && json_object_object_get_ex(j, "data", &data) &&
	    json_object_object_get_ex(data, "result", &res) &&
	    json_object_array_length(res) > 0 &&
	    json_object_object_get_ex(json_object_array_get_idx(res, 0), "value", &v))
		snprintf(val, len, "%s", json_object_get_string(json_object_array_get_idx(v, 1)));
	json_object_put(j);
	free(r);
}

/* Polls `query` every 100 ms until it answers `want` (at most 30 s: start-up
 * plus a scrape). The last answer is left in got. */
static inline bool prom_wait_value(const struct prom *p, const char *query, const char *want,
	char *got, size_t len)
{
	got[0] = '\0';
	for (int i = 0; i < 300 && strcmp(got, want) != 0; i++) {
		usleep(100000);
		prom_query(p, query, got, len);
	}
	return strcmp(got, want) == 0;
}

/* Stops the server (by its pid); with `show_log`, prints its log's tail to
 * stderr first. Removes its directory. */
static inline void prom_stop(struct prom *p, bool show_log)
{
	child_close(&p->c, true);
	if (show_log && p->log[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "tail -n 20 %s >&2", p->log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no prometheus log)\n");
	}
	if (p->dir[0])
		nftw(p->dir, prom_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	p->dir[0] = '\0';
}

#endif
