/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: commitlog recovery (conventions 13). The input becomes a store
 * directory:
 *   byte 0          flags: bit0 write a checkpoint, bit1 leave an abort file,
 *                   bit2 split the rest into two segments
 *   bytes 1..16     (bit0) checkpoint commitlog / consumequeue offsets (LE)
 *   rest            segment 0 (and 1) contents, at most 64 KiB each
 * Then the store is opened (recovery runs), every record it claims to have
 * is read back and walked, one message is appended, and the store is closed.
 * Nothing may crash or read out of bounds; open may refuse with an error.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/checkpoint.h"
#include "broker/store/store.h"
#include "tests/common/tmpdir.h"

#define SEG (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	/* tmpfs: fsync is free there, which keeps each input fast */
	char dir[] = "/dev/shm/shmq_fuzz_recovery_XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/commitlog", dir);
	mkdir(p, 0755);

	if (flags & 1) {
		struct shmq_ckpt_state st = { 0 };
		if (size >= 16) {
			memcpy(&st.cl_flushed, data, 8);
			memcpy(&st.cq_flushed, data + 8, 8);
			data += 16;
			size -= 16;
		}
		st.index_flushed = st.cq_flushed;
		shmq_ckpt_t *c;
		struct shmq_ckpt_state old;
		if (shmq_ckpt_open(dir, &c, &old) >= 0) {
			(void)shmq_ckpt_write(c, &st);
			shmq_ckpt_close(c);
		}
	}
	if (flags & 2) {
		snprintf(p, sizeof(p), "%s/abort", dir);
		write_file(p, NULL, 0);
	}
	size_t n0 = size > SEG ? SEG : size;
	if (flags & 4)
		n0 = size / 2 > SEG ? SEG : size / 2;
	snprintf(p, sizeof(p), "%s/commitlog/%020u", dir, 0u);
	write_file(p, data, n0);
	if (flags & 4) {
		size_t n1 = size - n0 > SEG ? SEG : size - n0;
		snprintf(p, sizeof(p), "%s/commitlog/%020u", dir, SEG);
		write_file(p, data + n0, n1);
	}

	SHMQ_STORE_OPTS(o, .dir = dir, .segment_size = SEG, .max_msg_size = 8192,
			.no_prefault = true, .cq_entries_per_file = 32, .index_slots = 16,
			.index_max_entries = 64, .flush_mode = SHMQ_FLUSH_SYNC);
	shmq_store_t *s;
	struct shmq_store_recovery_report rep;
	if (shmq_store_open(&o, &s, &rep) == 0) {
		/* walk the recovered log: every position recovery kept must read */
		uint64_t off = shmq_store_min_offset(s), end = shmq_store_max_offset(s);
		for (unsigned i = 0; off < end && i < 10000; i++) {
			int64_t next = shmq_store_next_offset(s, off);
			if (next < 0) {
				/* below the checkpoint the log is trusted, not re-verified:
				 * damage there shows up on read (SHMQ_ECRC), which is fine;
				 * past it, recovery verified everything it kept */
				if (off >= rep.scan_from)
					abort();
				break;
			}
			struct shmq_store_view v;
			if (shmq_store_read(s, off, &v) == 0) {
				/* its consumequeue entry, if recovery could rebuild it */
				char topic[300];
				snprintf(topic, sizeof(topic), "%.*s", (int)v.topic_len, v.topic);
				struct shmq_store_cq_entry e;
				if (shmq_store_cq_get(s, topic, v.queue_id, v.queue_offset, &e) == 0 &&
				    e.commitlog_offset == off && e.size != v.size)
					abort();
				shmq_store_view_release(s, &v);
			}
			off = (uint64_t)next;
		}
		struct shmq_store_msg m = { .topic = "fz", .body = "x", .body_len = 1, .keys = "k" };
		struct shmq_store_result r;
		(void)shmq_store_append(s, &m, 1, &r);
		shmq_store_close(s);
	}
	shmq_test_rmtree(dir);
	return 0;
}
