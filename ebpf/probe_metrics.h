/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) of the maps of shmq-probe
 * (ebpf/shmq_probe.h). Reads the maps through their file descriptors only,
 * so it works on the loader's own maps and on pinned maps opened read-only
 * (bpf_obj_get_opts with BPF_F_RDONLY) by an unprivileged reader.
 * Metric names and labels: docs/observability.md.
 */
#ifndef SHMQ_EBPF_PROBE_METRICS_H
#define SHMQ_EBPF_PROBE_METRICS_H

#include <stdio.h>

struct shmq_probe_map_fds {
	int hist;
	int order_viol;
	int queue_stats;
	int totals;
};

/* Writes every series to `out`, each labelled broker="<broker>" (a name
 * without '"', '\\' or newline). Returns 0, or -errno of the first failed map
 * read or write. */
int shmq_probe_metrics_render(FILE *out, const struct shmq_probe_map_fds *fds,
	const char *broker);

#endif
