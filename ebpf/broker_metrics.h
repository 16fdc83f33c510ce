/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's always-on, in-process counters as Prometheus text, read over
 * the ordinary client socket with the libshmq admin API (status, rings,
 * topics, group progress). Needs no privilege: shmq-probe --no-bpf serves
 * only these. Series names and labels: docs/observability.md.
 */
#ifndef SHMQ_EBPF_BROKER_METRICS_H
#define SHMQ_EBPF_BROKER_METRICS_H

#include <stdio.h>

#include "shmq/admin.h"

/* Writes the broker's series, labelled broker="<broker>" (a valid label
 * value), to `out`; the consumer-group lag of each group in `groups` (n of
 * them) on every topic. A broker that does not answer gives shmq_broker_up 0
 * and nothing else. Returns 0, or -EIO if writing failed. */
int shmq_probe_broker_render(FILE *out, shmq_client_t *c, const char *broker,
	const char *const *groups, int n_groups);

#endif
