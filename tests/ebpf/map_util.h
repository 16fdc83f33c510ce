/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading shmq-probe's pinned maps in the tests/ebpf tests the way an
 * operator does: `bpftool map dump pinned <pin_root>/<map> -j` (env BPFTOOL),
 * parsed with json-c; the "formatted" part carries the BTF field names.
 * cmocka assertions: include after <cmocka.h>.
 */
#ifndef SHMQ_TESTS_EBPF_MAP_UTIL_H
#define SHMQ_TESTS_EBPF_MAP_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <linux/types.h>

#include "ebpf/shmq_probe.h"

/* `bpftool map dump pinned <pin_root>/<map> -j`, parsed. */
static inline json_object *dump_map(const char *pin_root, const char *map)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s map dump pinned %s/%s -j", getenv("BPFTOOL"),
		pin_root, map);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	assert_int_equal(pclose(p), 0);
	json_object *j = json_tokener_parse(buf);
	free(buf);
	assert_non_null(j);
	assert_true(json_object_is_type(j, json_type_array));
	return j;
}

static inline uint64_t jget(json_object *o, const char *field)
{
	json_object *f;
	if (!json_object_object_get_ex(o, field, &f)) {
		fail_msg("field \"%s\" missing in %s", field, json_object_to_json_string(o));
	}
	return (uint64_t)json_object_get_int64(f);
}

/* The formatted key/value of element i (BTF names, not hex bytes). */
static inline void formatted(json_object *arr, size_t i, json_object **key, json_object **val)
{
	json_object *e = json_object_array_get_idx(arr, i), *fmt;
	assert_true(json_object_object_get_ex(e, "formatted", &fmt));
	assert_true(json_object_object_get_ex(fmt, "key", key));
	assert_true(json_object_object_get_ex(fmt, "value", val));
}

/* count, and that the slots sum to it; returns the count. */
static inline uint64_t hist_count(json_object *v, int min_slot)
{
	json_object *slots;
	assert_true(json_object_object_get_ex(v, "slots", &slots));
	assert_int_equal(json_object_array_length(slots), SHMQ_HIST_SLOTS);
	uint64_t sum = 0;
	for (int i = 0; i < SHMQ_HIST_SLOTS; i++) {
		uint64_t s = (uint64_t)json_object_get_int64(json_object_array_get_idx(slots, (size_t)i));
		if (i < min_slot && s != 0)
			fail_msg("slot %d has %" PRIu64 " samples, below the minimum latency", i, s);
		sum += s;
	}
	uint64_t count = jget(v, "count");
	assert_int_equal(sum, count);
	return count;
}

#endif
