/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shmq-bench e2e --probe PATH`: what shmq-probe costs (issue 6). The same
 * e2e configurations run with the probes detached, then with shmq-probe
 * attached to shmqd and libshmq.so (pid -1: every broker and client the run
 * starts), alternating, 5 times each (env SHMQ_BENCH_REPS); the medians, their ratio and the
 * throughput loss are printed, then one JSON line.
 *
 * Each measurement is its own `shmq-bench e2e --only NAME` child (the same
 * binary, the caller's other options passed on), whose final JSON line is
 * parsed, so the configurations are exactly those of the full e2e run.
 * Sampling is the default (SHMQ_PROBE_SAMPLE_DEFAULT) unless the caller's
 * environment sets SHMQ_PROBE_SAMPLE.
 *
 * Then the cost of one probe site in isolation, in thread CPU time (which
 * other load on the machine disturbs far less than throughput): a loop over
 * a produce_batch site of this binary, detached, then attached with sampling
 * 1 (the cost of a hit) and with the default sampling (the cost per batch a
 * data-path site pays), each in a child process so that each reads its own
 * SHMQ_PROBE_SAMPLE.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench/bench.h"
#include "ebpf/probes.h"
#include "shmq/shmq.h"

#define REPS_DEFAULT  5
#define REPS_MAX      31  /* env SHMQ_BENCH_REPS: more alternations on a noisy machine */
#define MAX_ARGS      32
#define READY_WAIT_MS 30000

/* What one configuration measures and where its figure is in the JSON. */
struct pcase {
	const char *only;   /* --only NAME */
	const char *array;  /* "throughput" or "latency" */
	const char *field;  /* the figure */
	bool higher_better;
};

/* "cpu_ns_per_msg": CPU time of producers + consumer + broker per message,
 * the figure that the machine's other load disturbs least (throughput and
 * latency also measure whoever else runs on the two CPUs). */
static const struct pcase cases[] = {
	{ "tp-64-1p-single", "throughput", "msgs_per_s", true },
	{ "tp-64-1p-single", "throughput", "cpu_ns_per_msg", false },
	{ "tp-64-1p-batch", "throughput", "msgs_per_s", true },
	{ "tp-64-1p-batch", "throughput", "cpu_ns_per_msg", false },
	{ "lat-64-immediate", "latency", "p50_ns", false },
	{ "lat-64-immediate", "latency", "p99_ns", false },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* The figure of the first ok entry of c->array in the e2e JSON line, or -1. */
static double figure(const char *line, const struct pcase *c)
{
	json_object *j = json_tokener_parse(line), *arr;
	double v = -1;
	if (j && json_object_object_get_ex(j, c->array, &arr)) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i), *ok, *f;
			if (!json_object_object_get_ex(e, "ok", &ok) || !json_object_get_boolean(ok) ||
			    !json_object_object_get_ex(e, c->field, &f))
				continue;
			if (json_object_is_type(f, json_type_object)) {
				/* cpu_ns_per_msg: {producers, consumer, broker}, summed */
				v = 0;
				json_object_object_foreach(f, key, val) {
					(void)key;
					v += json_object_get_double(val);
				}
			} else {
				v = json_object_get_double(f);
			}
			break;
		}
	}
	json_object_put(j);
	return v;
}

/* Runs `self e2e --only only <pass...>` and returns its final JSON line
 * (malloc'd), or NULL. Its table goes to /dev/null; stderr stays. */
static char *run_e2e(const char *self, const char *only, char *const *pass, int npass)
{
	char *argv[MAX_ARGS + 6];
	int n = 0;
	argv[n++] = (char *)self;
	argv[n++] = "e2e";
	argv[n++] = "--only";
	argv[n++] = (char *)only;
	for (int i = 0; i < npass && n < MAX_ARGS; i++)
		argv[n++] = pass[i];
	argv[n] = NULL;
	int fds[2];
	if (pipe(fds) != 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(self, argv);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char *line = NULL, *json = NULL;
	size_t cap = 0;
	while (f && getline(&line, &cap, f) > 0) {
		if (strncmp(line, "{\"bench\":\"e2e\"", 14) == 0) {
			free(json);
			json = strdup(line);
		}
	}
	free(line);
	if (f)
		fclose(f);
	else
		close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return json;
}

struct probe_child {
	pid_t pid;
	FILE *out;
};

/* Starts shmq-probe on `bin` (and `lib` unless NULL) and waits for its ready line. */
static int probe_start(struct probe_child *p, const char *probe, const char *bin, const char *lib)
{
	char name[48];
	snprintf(name, sizeof(name), "bench-%d", (int)getpid());
	char *argv[] = { (char *)probe, "--broker", name, "--port", "0", "--cleanup",
		"--binary", (char *)bin, lib ? "--binary" : NULL, (char *)lib, NULL };
	int fds[2];
	if (pipe(fds) != 0)
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(probe, argv);
		_exit(127);
	}
	close(fds[1]);
	p->out = fdopen(fds[0], "r");
	struct pollfd pf = { .fd = fds[0], .events = POLLIN };
	char line[512];
	if (p->out == NULL || poll(&pf, 1, READY_WAIT_MS) != 1 || !fgets(line, sizeof(line), p->out) ||
	    strncmp(line, "ready ", 6) != 0) {
		fprintf(stderr, "shmq-bench e2e --probe: %s did not become ready\n", probe);
		return -EIO;
	}
	return 0;
}

/* Stops it by its pid (SIGTERM: it detaches and removes its pins). */
static void probe_stop(struct probe_child *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		int st;
		waitpid(p->pid, &st, 0);
	}
	if (p->out)
		fclose(p->out);
	p->pid = 0;
	p->out = NULL;
}

#define HIT_LOOP 200000

/* CPU ns per call of a produce_batch site, best of 5 loops. */
static double site_cost(void)
{
	uint32_t topic = shmq_probe_name_hash("bench-probe-site");
	double best = -1;
	for (int r = 0; r < 5; r++) {
		struct timespec a, b;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
		for (uint64_t i = 0; i < HIT_LOOP; i++) {
			SHMQ_PROBE_PRODUCE_BATCH(topic, 0, i, 1, 64, shmq_probe_now_ns());
			__asm__ volatile("" ::: "memory"); /* keep the loop */
		}
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
		double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / HIT_LOOP;
		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

/* site_cost() in a child with SHMQ_PROBE_SAMPLE=sample (NULL: unset). */
static double site_cost_child(const char *sample)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (sample)
			setenv("SHMQ_PROBE_SAMPLE", sample, 1);
		else
			unsetenv("SHMQ_PROBE_SAMPLE");
		double v = site_cost();
		_exit(write(fds[1], &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
	}
	close(fds[1]);
	double v = -1;
	if (read(fds[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
		v = -1;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n == 0 ? -1 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

int shmq_bench_e2e_probe(const char *probe, const char *shmqd, int argc, char **argv)
{
	/* the caller's options go to every child, but for --probe and --only */
	char *pass[MAX_ARGS];
	int npass = 0;
	for (int i = 1; i < argc && npass < MAX_ARGS; i++) {
		if ((!strcmp(argv[i], "--probe") || !strcmp(argv[i], "--only")) && i + 1 < argc)
			i++;
		else
			pass[npass++] = argv[i];
	}
	char self[PATH_MAX], lib[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self[n] = '\0';
	/* The libshmq.so this binary (and so every bench client) runs. */
	Dl_info di;
	if (dladdr((void *)shmq_client_open, &di) == 0 || di.dli_fname == NULL ||
	    realpath(di.dli_fname, lib) == NULL) {
		fprintf(stderr, "shmq-bench e2e --probe: cannot find libshmq.so\n");
		return 1;
	}
	if (access(probe, X_OK) != 0) {
		fprintf(stderr, "shmq-bench e2e --probe: %s: %s\n", probe, strerror(errno));
		return 1;
	}
	const char *reps_s = getenv("SHMQ_BENCH_REPS");
	int reps = reps_s ? atoi(reps_s) : REPS_DEFAULT;
	if (reps < 1 || reps > REPS_MAX)
		reps = REPS_DEFAULT;
	const char *sample = getenv("SHMQ_PROBE_SAMPLE");
	char dflt_s[16];
	snprintf(dflt_s, sizeof(dflt_s), "%u", SHMQ_PROBE_SAMPLE_DEFAULT);
	printf("shmq-bench e2e --probe: %s attached to %s and %s, sampling 1 in %s%s, %d repetitions\n",
	       probe, shmqd, lib, sample ? sample : dflt_s, sample ? "" : " (default)", reps);
	fflush(stdout);

	/* One e2e child per distinct --only (two cases share the latency run). */
	double v[NCASES][2][REPS_MAX];
	int got[NCASES][2] = { { 0 } };
	int failures = 0;
	for (int rep = 0; rep < reps; rep++) {
		for (size_t c = 0; c < NCASES; c++) {
			if (c > 0 && strcmp(cases[c].only, cases[c - 1].only) == 0)
				continue; /* measured with the previous case */
			for (int attached = 0; attached < 2; attached++) {
				struct probe_child pc = { 0 };
				if (attached && probe_start(&pc, probe, shmqd, lib) < 0) {
					probe_stop(&pc);
					return 1; /* no BPF here: nothing to compare */
				}
				char *json = run_e2e(self, cases[c].only, pass, npass);
				probe_stop(&pc);
				for (size_t k = c; k < NCASES && !strcmp(cases[k].only, cases[c].only); k++) {
					double f = json ? figure(json, &cases[k]) : -1;
					if (f > 0)
						v[k][attached][got[k][attached]++] = f;
					else
						failures++;
				}
				free(json);
			}
		}
	}

	printf("\n  %-18s %-11s %14s %14s %8s\n", "configuration", "figure", "detached", "attached",
	       "change");
	double med[NCASES][2], change[NCASES];
	for (size_t c = 0; c < NCASES; c++) {
		for (int a = 0; a < 2; a++)
			med[c][a] = median(v[c][a], got[c][a]);
		/* positive = worse with the probe attached */
		change[c] = med[c][0] > 0 && med[c][1] > 0
			? (cases[c].higher_better ? 1 - med[c][1] / med[c][0] : med[c][1] / med[c][0] - 1) * 100
			: 0;
		printf("  %-18s %-11s %14.0f %14.0f %7.1f%%\n", cases[c].only, cases[c].field, med[c][0],
		       med[c][1], change[c]);
	}
	double worst_tp = 0, worst_cpu = 0;
	for (size_t c = 0; c < NCASES; c++) {
		if (cases[c].higher_better && change[c] > worst_tp)
			worst_tp = change[c];
		if (!strcmp(cases[c].field, "cpu_ns_per_msg") && change[c] > worst_cpu)
			worst_cpu = change[c];
	}
	/* One site in isolation (see the file comment). */
	double det = site_cost_child(NULL), hit = -1, dflt = -1;
	struct probe_child pc = { 0 };
	if (probe_start(&pc, probe, self, NULL) == 0) {
		hit = site_cost_child("1");
		dflt = site_cost_child(NULL);
	}
	probe_stop(&pc);
	printf("\n  one produce_batch site, CPU ns per call: detached %.2f, attached hit %.0f,"
	       " attached at sampling 1 in %u %.2f\n", det, hit, SHMQ_PROBE_SAMPLE_DEFAULT, dflt);

	double load = -1;
	FILE *la = fopen("/proc/loadavg", "r");
	if (la == NULL || fscanf(la, "%lf", &load) != 1)
		load = -1;
	if (la)
		fclose(la);
	printf("\n  attached throughput loss (worst case)  %5.1f %%  (target < 3 %%)  %s\n", worst_tp,
	       worst_tp < 3.0 ? "met" : "MISSED");
	printf("  attached CPU per message (worst case)  %+5.1f %%  (the loss a CPU-bound run would see)\n",
	       worst_cpu);
	printf("  load average now %.2f on this machine: with other load the throughput and latency\n"
	       "  figures measure it too; the CPU-per-message figure much less\n", load);
	if (failures)
		printf("  %d measurement(s) FAILED (see stderr)\n", failures);
	printf("{\"bench\":\"e2e-probe\",\"reps\":%d,\"sample\":\"%s\",\"failures\":%d,\"cases\":[", reps,
	       sample ? sample : "default", failures);
	for (size_t c = 0; c < NCASES; c++)
		printf("%s{\"config\":\"%s\",\"figure\":\"%s\",\"detached\":%.0f,\"attached\":%.0f,"
		       "\"change_pct\":%.2f}", c ? "," : "", cases[c].only, cases[c].field, med[c][0],
		       med[c][1], change[c]);
	printf("],\"site_ns\":{\"detached\":%.2f,\"attached_hit\":%.1f,\"attached_default_sampling\":%.2f,"
	       "\"default_sampling\":%u},\"throughput_loss_pct\":%.2f,\"cpu_per_msg_increase_pct\":%.2f,"
	       "\"load_avg_1m\":%.2f,\"met\":%s}\n", det, hit, dflt, SHMQ_PROBE_SAMPLE_DEFAULT, worst_tp,
	       worst_cpu, load, worst_tp < 3.0 ? "true" : "false");
	return failures ? 1 : 0;
}
