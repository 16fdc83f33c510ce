/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash tests of the store (suite 'crash'): a child process appends in sync
 * flush mode and is killed with SIGKILL at a random moment; the parent then
 * reopens the store (crash recovery, S6) and checks it against what the child
 * had been told was durable (S3).
 *
 * The child appends batches of 1..16 messages to four queues (three of topic
 * crash_a, one of crash_b), each body carrying its sequence number and bytes
 * derived from it, each message keyed "k<seq>". After
 * shmq_store_wait_durable() returned for a batch, and only then, it writes one
 * acknowledgement per message (offset, size, queue offset, message id) into a
 * pipe; a write of at most PIPE_BUF bytes is atomic, so the parent sees whole
 * batches or nothing. Every child gets its own range of sequence numbers
 * (iteration << 20), so sequences strictly increase in commitlog order and a
 * sequence destroyed by a test never comes back.
 *
 * After each kill the parent (optionally damaging the files first) opens the
 * store and checks:
 *  C1 every record from min to max offset reads back with a valid CRC, its
 *     offset field equals its position, its body is intact, and sequences
 *     strictly increase;
 *  C2 per queue, queue offsets are exactly 0, 1, 2, ... in commitlog order
 *     (dense, no duplicate, no gap) and shmq_store_queue_offsets() agrees;
 *  C3 every consumequeue entry points at the record holding that queue
 *     offset, with its size and tag hash; nothing is found past the max;
 *  C4 every acknowledged record is present at the offset and queue offset it
 *     was acknowledged with (except those a test destroyed on purpose);
 *  C5 the index finds acknowledged records by key and by message id, and finds
 *     nothing for keys of records that were destroyed;
 *  C6 the recovery report is consistent: abnormal start after a kill of an
 *     opened store, end == max offset, what was cut is reported, the files
 *     past the recovered end hold no stale bytes.
 * The next iteration goes on appending to the same store. Seed printed;
 * SHMQ_SEED replays the same choices (timing still varies);
 * SHMQ_STRESS_SCALE multiplies the iterations.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/store/checkpoint_layout.h"
#include "broker/store/store.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "common/crc32c.h"
#include "tests/common/tmpdir.h"

#define SEG_SIZE (256u * 1024u)
#define CQ_PER_FILE 4096u
#define IDX_SLOTS 4096u
#define IDX_ENTRIES 16384u
#define NSLOTS 4                   /* (topic, queue) pairs the child writes */
#define BATCH_MAX 16u
#define CHILD_MAX_RECORDS 6000u    /* a child stops there and waits for its kill */
#define SEQ_RANGE_SHIFT 20         /* child i uses sequences [i << 20, (i + 1) << 20) */
#define BASE_ITERATIONS 30u
#define MAX_KILL_DELAY_NS (90ull * 1000 * 1000)
#define BODY_HDR 16u
#define INDEX_SAMPLE 150u
#define LOST_MAX 256u

static_assert(CHILD_MAX_RECORDS < (1u << SEQ_RANGE_SHIFT), "sequence ranges overlap");

enum damage {
	DAMAGE_NONE,          /* plain kill; some iterations chain two kills */
	DAMAGE_GARBAGE_TAIL,  /* random bytes over unacknowledged bytes */
	DAMAGE_TRUNC_BEYOND,  /* segment cut after the last acknowledged record */
	DAMAGE_TRUNC_CUT,     /* segment cut inside acknowledged data */
};

/* ------------------------------------------------------------------ */
/* Messages: topic/queue slots, bodies derived from the sequence       */

static const char *const slot_topic[NSLOTS] = { "crash_a", "crash_a", "crash_a", "crash_b" };
static const uint32_t slot_queue[NSLOTS] = { 0, 1, 2, 0 };

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finaliser: every input bit reaches every output bit */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ull;
	return mix64(*state);
}

static uint32_t seq_slot(uint64_t seq)
{
	return (uint32_t)(mix64(seq ^ 0x5107) % NSLOTS);
}

static void seq_tags(uint64_t seq, char *buf, size_t len)
{
	snprintf(buf, len, "tag%u", (unsigned)(seq % 5));
}

/* Body: seq (8) | slot (4) | len (4) | bytes from mix64(seq, i). */
static void body_fill(uint8_t *b, uint32_t len, uint64_t seq)
{
	uint32_t slot = seq_slot(seq);

	memcpy(b, &seq, 8);
	memcpy(b + 8, &slot, 4);
	memcpy(b + 12, &len, 4);
	for (uint32_t i = BODY_HDR; i < len; i++)
		b[i] = (uint8_t)(mix64(seq * 131 + i / 8) >> (8 * (i % 8)));
}

/* @return the sequence held by a valid body, or UINT64_MAX. */
static uint64_t body_check(const uint8_t *b, uint32_t len)
{
	uint64_t seq;
	uint32_t slot, blen;

	if (len < BODY_HDR)
		return UINT64_MAX;
	memcpy(&seq, b, 8);
	memcpy(&slot, b + 8, 4);
	memcpy(&blen, b + 12, 4);
	if (blen != len || slot != seq_slot(seq))
		return UINT64_MAX;
	for (uint32_t i = BODY_HDR; i < len; i++)
		if (b[i] != (uint8_t)(mix64(seq * 131 + i / 8) >> (8 * (i % 8))))
			return UINT64_MAX;
	return seq;
}

static void store_opts(struct shmq_store_opts *o, const char *dir)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->dir = dir;
	o->segment_size = SEG_SIZE;
	o->max_msg_size = SEG_SIZE / 4;
	o->flush_mode = SHMQ_FLUSH_SYNC;
	o->cq_entries_per_file = CQ_PER_FILE;
	o->index_slots = IDX_SLOTS;
	o->index_max_entries = IDX_ENTRIES;
	o->broker_id = 7;
}

/* ------------------------------------------------------------------ */
/* The child: append, wait durable, then acknowledge through the pipe   */

enum { MSG_OPENED = 1, MSG_ACK, MSG_ERR, MSG_DONE };
enum { ERR_OPEN = 1, ERR_REPORT, ERR_APPEND, ERR_DURABLE, ERR_PIPE };

struct child_msg {
	uint32_t type;
	int32_t status;
	uint64_t seq;
	uint64_t offset;
	uint64_t queue_offset;
	uint32_t size;
	uint32_t what;
	char msgid[SHMQ_MSGID_STRLEN + 1];
	char pad_[7];
};
static_assert(BATCH_MAX * sizeof(struct child_msg) <= PIPE_BUF,
	      "one batch of acknowledgements must be one atomic pipe write");

static void child_send(int fd, const struct child_msg *m, size_t n)
{
	/* all or nothing: <= PIPE_BUF bytes to a blocking pipe (POSIX) */
	if (write(fd, m, n * sizeof(*m)) != (ssize_t)(n * sizeof(*m)))
		_exit(3);
}

static void child_fail(int fd, uint32_t what, int status)
{
	struct child_msg m = { .type = MSG_ERR, .status = status, .what = what };

	child_send(fd, &m, 1);
	_exit(2);
}

/* Never returns: appends until killed (or parks after CHILD_MAX_RECORDS). */
static void child_main(const char *dir, int fd, uint64_t first_seq, uint64_t seed,
		       bool expect_clean)
{
	static uint8_t bodies[BATCH_MAX][20000];
	struct shmq_store_msg msgs[BATCH_MAX];
	struct shmq_store_result res[BATCH_MAX];
	struct child_msg acks[BATCH_MAX];
	struct shmq_store_recovery_report rep;
	struct shmq_store_opts o;
	char keys[BATCH_MAX][32], tags[BATCH_MAX][16];
	shmq_store_t *s = NULL;
	uint64_t seq = first_seq, rs = seed;
	int rc;

	store_opts(&o, dir);
	rc = shmq_store_open(&o, &s, &rep);
	if (rc)
		child_fail(fd, ERR_OPEN, rc);
	/* C6: the parent's clean close must leave nothing to recover */
	if (expect_clean && rep.abnormal)
		child_fail(fd, ERR_REPORT, 0);
	{
		struct child_msg m = { .type = MSG_OPENED };

		child_send(fd, &m, 1);
	}
	while (seq < first_seq + CHILD_MAX_RECORDS) {
		unsigned n = 1 + (unsigned)(rnd(&rs) % BATCH_MAX);

		for (unsigned i = 0; i < n; i++, seq++) {
			uint32_t slot = seq_slot(seq), len;
			uint64_t r = rnd(&rs);

			/* mostly small; now and then a large one rolls a segment sooner */
			len = (r % 32 == 0) ? 8000 + (uint32_t)(r >> 8) % 12000
					    : BODY_HDR + (uint32_t)(r >> 8) % 1200;
			body_fill(bodies[i], len, seq);
			snprintf(keys[i], sizeof(keys[i]), "k%" PRIu64, seq);
			seq_tags(seq, tags[i], sizeof(tags[i]));
			msgs[i] = (struct shmq_store_msg){
				.topic = slot_topic[slot],
				.queue_id = slot_queue[slot],
				.body = bodies[i],
				.body_len = len,
				.keys = keys[i],
				.tags = tags[i],
				.born_ts_ms = shmq_wall_ms(),
				.born_host = (uint64_t)getpid(),
				.producer_id = 1,
				.producer_seq = seq,
			};
		}
		rc = shmq_store_append(s, msgs, n, res);
		if (rc != (int)n)
			child_fail(fd, ERR_APPEND, rc < 0 ? rc : res[rc].status);
		rc = shmq_store_wait_durable(s, res[n - 1].commitlog_offset + res[n - 1].size,
					     UINT64_MAX);
		if (rc)
			child_fail(fd, ERR_DURABLE, rc);
		/* S3 held: only now may these records be reported durable */
		for (unsigned i = 0; i < n; i++) {
			acks[i] = (struct child_msg){
				.type = MSG_ACK,
				.seq = seq - n + i,
				.offset = res[i].commitlog_offset,
				.queue_offset = res[i].queue_offset,
				.size = res[i].size,
			};
			memcpy(acks[i].msgid, res[i].msg_id, sizeof(acks[i].msgid));
		}
		child_send(fd, acks, n);
	}
	{
		struct child_msg m = { .type = MSG_DONE };

		child_send(fd, &m, 1);
	}
	for (;;)
		pause();
}

/* ------------------------------------------------------------------ */
/* The parent's model                                                  */

struct ack {
	uint64_t seq, offset, queue_offset;
	uint32_t size;
	char msgid[SHMQ_MSGID_STRLEN + 1];
};

struct rec {
	uint64_t seq, offset, queue_offset;
	uint32_t size, slot;
};

struct run {
	char dir[128];
	uint64_t seed, rs;
	enum damage damage;
	struct ack *acked;        /* sorted by seq (and by offset) */
	size_t nacked, cap_acked;
	size_t first_new_ack;     /* acks of the latest child start here */
	uint64_t lost[LOST_MAX];  /* keys destroyed on purpose: must not be found */
	size_t nlost;
	bool opened_since_clean;  /* a killed child had the store open */
	bool clean;               /* no kill since the parent's last clean close */
	struct rec *present;
	size_t npresent, cap_present;
	/* totals for the summary line */
	uint64_t kills, verified, bytes_cut, cuts, lost_acked, chained, max_end;
};

static struct run R;

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	x = strtoull(v, &end, 0);
	return *end ? def : (uint64_t)x;
}

static uint64_t ack_end(void)
{
	return R.nacked ? R.acked[R.nacked - 1].offset + R.acked[R.nacked - 1].size : 0;
}

static void ack_push(const struct child_msg *m)
{
	if (R.nacked == R.cap_acked) {
		R.cap_acked = R.cap_acked ? 2 * R.cap_acked : 4096;
		R.acked = realloc(R.acked, R.cap_acked * sizeof(*R.acked));
		assert_non_null(R.acked);
	}
	/* one appender, and every child starts past the last one's range */
	if (R.nacked) {
		assert_true(m->seq > R.acked[R.nacked - 1].seq);
		assert_true(m->offset >= ack_end());
	}
	R.acked[R.nacked] = (struct ack){ .seq = m->seq, .offset = m->offset,
					  .queue_offset = m->queue_offset, .size = m->size };
	memcpy(R.acked[R.nacked].msgid, m->msgid, sizeof(m->msgid));
	R.acked[R.nacked].msgid[SHMQ_MSGID_STRLEN] = '\0';
	R.nacked++;
}


static int setup(void **state)
{
	(void)state;
	memset(&R, 0, sizeof(R));
	snprintf(R.dir, sizeof(R.dir), "%s/shmq-crash-store-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	R.clean = true;
	if (!mkdtemp(R.dir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmq_test_rmtree(R.dir);
	free(R.acked);
	free(R.present);
	return 0;
}

/* ------------------------------------------------------------------ */
/* One child's life: fork, collect acknowledgements, SIGKILL            */

static void run_child(unsigned iter, uint64_t delay_ns, bool expect_clean)
{
	struct child_msg buf[64];
	size_t have = 0;
	uint64_t deadline;
	bool killed = false, opened = false;
	struct child_msg err = { 0 };
	int fds[2], st;
	pid_t pid;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_main(R.dir, fds[1], (uint64_t)iter << SEQ_RANGE_SHIFT,
			   mix64(R.seed ^ ((uint64_t)iter << 32)), expect_clean);
		_exit(4);
	}
	close(fds[1]);
	R.first_new_ack = R.nacked;
	R.clean = false;
	deadline = shmq_now_ns() + delay_ns;
	for (;;) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		uint64_t now = shmq_now_ns();
		struct timespec ts;
		ssize_t n;
		size_t whole;

		if (!killed && now >= deadline) {
			kill(pid, SIGKILL);
			killed = true;
		}
		if (!killed) {
			ts.tv_sec = (time_t)((deadline - now) / 1000000000ull);
			ts.tv_nsec = (long)((deadline - now) % 1000000000ull);
		}
		if (ppoll(&pfd, 1, killed ? NULL : &ts, NULL) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		n = read(fds[0], (char *)buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0)
			break;
		have += (size_t)n;
		whole = have / sizeof(buf[0]);
		for (size_t i = 0; i < whole; i++) {
			switch (buf[i].type) {
			case MSG_OPENED:
				opened = true;
				break;
			case MSG_ACK:
				ack_push(&buf[i]);
				break;
			case MSG_ERR:
				err = buf[i];
				break;
			case MSG_DONE:  /* parked at CHILD_MAX_RECORDS until the kill */
				break;
			default:
				fail_msg("child sent message type %u", buf[i].type);
			}
		}
		memmove(buf, buf + whole, have - whole * sizeof(buf[0]));
		have -= whole * sizeof(buf[0]);
	}
	close(fds[0]);
	if (!killed)
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (err.type == MSG_ERR)
		fail_msg("iteration %u: child failed at step %u: %s", iter, err.what,
			 err.what == ERR_REPORT ? "abnormal start after a clean close"
						: shmq_strerror(err.status));
	assert_int_equal(have, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("iteration %u: child ended with status 0x%x", iter, st);
	if (opened)
		R.opened_since_clean = true;
	R.kills++;
}

/* ------------------------------------------------------------------ */
/* Damage                                                              */

static void seg_path(uint64_t base, char *p, size_t len)
{
	snprintf(p, len, "%s/commitlog/%020" PRIu64, R.dir, base);
}

struct damage_done {
	enum damage kind;
	uint64_t at;       /* commitlog offset where the damage starts */
	uint64_t nz;       /* truncations: first non-zero byte removed, or UINT64_MAX */
	bool applied;
};

/*
 * The commitlog offset the newest valid checkpoint slot vouches for
 * (checkpoint_layout.h), 0 if none. Recovery trusts the bytes below it (S6)
 * and verifies only from there: junk written below it would be disk
 * corruption of flushed data, which the store reports on read (SHMQ_ECRC),
 * not a torn tail.
 */
static uint64_t checkpoint_offset(void)
{
	uint8_t buf[SHMQ_CKPT_FILE_SIZE];
	uint64_t best_seq = 0, off = 0;
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/checkpoint", R.dir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	for (unsigned i = 0; i < 2; i++) {
		struct shmq_ckpt_slot sl;

		if (n < (ssize_t)((i + 1) * SHMQ_CKPT_SLOT_STRIDE))
			break;
		memcpy(&sl, buf + i * SHMQ_CKPT_SLOT_STRIDE, sizeof(sl));
		if (sl.magic != SHMQ_CKPT_MAGIC || sl.version != SHMQ_CKPT_VERSION ||
		    sl.crc != shmq_crc32c(0, &sl, offsetof(struct shmq_ckpt_slot, crc)))
			continue;
		if (sl.seq >= best_seq) {
			best_seq = sl.seq;
			off = sl.cl_flushed;
		}
	}
	return off;
}

/*
 * Commitlog offset of the first non-zero byte at or after @p from in the
 * segment at @p base, or UINT64_MAX. Cutting only zeros (a filler's body, a
 * record's padding, the unwritten tail) destroys nothing: every record is
 * intact up to the first non-zero byte a truncation removes.
 */
static uint64_t first_nonzero(int fd, uint64_t base, uint64_t from)
{
	static uint8_t buf[SEG_SIZE];
	ssize_t n = pread(fd, buf, SEG_SIZE, 0);

	assert_true(n >= 0);
	for (uint64_t i = from - base; i < (uint64_t)n; i++)
		if (buf[i])
			return base + i;
	return UINT64_MAX;
}

static void damage_store(struct damage_done *d)
{
	uint64_t end = ack_end(), base, pos, len;
	char path[256];
	uint8_t junk[512];
	int fd;

	d->applied = false;
	if (d->kind == DAMAGE_NONE)
		return;
	if (d->kind == DAMAGE_GARBAGE_TAIL && checkpoint_offset() > end)
		end = checkpoint_offset();
	if (d->kind == DAMAGE_TRUNC_CUT) {
		if (end == 0)
			return;
		base = (end - 1) / SEG_SIZE * SEG_SIZE;  /* holds the last acknowledged byte */
	} else {
		base = end / SEG_SIZE * SEG_SIZE;        /* where the next byte would go */
	}
	seg_path(base, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0) {
		assert_int_equal(errno, ENOENT);  /* killed before that segment existed */
		return;
	}
	d->nz = UINT64_MAX;
	switch (d->kind) {
	case DAMAGE_GARBAGE_TAIL:
		/* half the time right behind the acknowledged end (over torn or
		 * unacknowledged records), else anywhere in the rest of the segment */
		if (base + SEG_SIZE - end <= 1) {
			close(fd);
			return;
		}
		if (rnd(&R.rs) % 2)
			pos = end + rnd(&R.rs) % (base + SEG_SIZE - end < 8192 ? base + SEG_SIZE - end : 8192);
		else
			pos = end + rnd(&R.rs) % (base + SEG_SIZE - end);
		len = 1 + rnd(&R.rs) % sizeof(junk);
		if (pos + len > base + SEG_SIZE)
			len = base + SEG_SIZE - pos;
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rnd(&R.rs);
		junk[0] |= 1;  /* at least one non-zero byte, so there is something to cut */
		assert_int_equal(pwrite(fd, junk, len, (off_t)(pos - base)), (ssize_t)len);
		d->at = pos;
		break;
	case DAMAGE_TRUNC_BEYOND:
		pos = end + rnd(&R.rs) % (base + SEG_SIZE - end);
		d->nz = first_nonzero(fd, base, pos);
		assert_int_equal(ftruncate(fd, (off_t)(pos - base)), 0);
		d->at = pos;
		break;
	case DAMAGE_TRUNC_CUT:
		pos = base + rnd(&R.rs) % (end - base);
		d->nz = first_nonzero(fd, base, pos);
		assert_int_equal(ftruncate(fd, (off_t)(pos - base)), 0);
		d->at = pos;
		break;
	case DAMAGE_NONE:
		break;
	}
	close(fd);
	d->applied = true;
}

/* Acknowledged records the damage destroyed leave the model; their keys are
 * remembered to check that the index no longer finds them (C5). */
static size_t forget_acked_after(uint64_t cut)
{
	size_t keep = R.nacked;

	while (keep > 0 && R.acked[keep - 1].offset + R.acked[keep - 1].size > cut)
		keep--;
	for (size_t i = keep; i < R.nacked; i++)
		if (R.nlost < LOST_MAX)
			R.lost[R.nlost++] = R.acked[i].seq;
	{
		size_t gone = R.nacked - keep;

		R.nacked = keep;
		if (R.first_new_ack > keep)
			R.first_new_ack = keep;
		return gone;
	}
}

/* ------------------------------------------------------------------ */
/* Verification                                                        */

static void present_push(const struct rec *r)
{
	if (R.npresent == R.cap_present) {
		R.cap_present = R.cap_present ? 2 * R.cap_present : 4096;
		R.present = realloc(R.present, R.cap_present * sizeof(*R.present));
		assert_non_null(R.present);
	}
	R.present[R.npresent++] = *r;
}

static const struct rec *present_find(uint64_t seq)
{
	size_t lo = 0, hi = R.npresent;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (R.present[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < R.npresent && R.present[lo].seq == seq ? &R.present[lo] : NULL;
}

/* C1, C2: walk the whole log. */
static void check_log(shmq_store_t *s, uint64_t qcount[NSLOTS])
{
	uint64_t off = shmq_store_min_offset(s), max = shmq_store_max_offset(s), prev_seq = 0;
	bool first = true;

	R.npresent = 0;
	memset(qcount, 0, NSLOTS * sizeof(qcount[0]));
	assert_int_equal(off, 0);  /* retention never runs here */
	while (off < max) {
		struct shmq_store_view v;
		struct rec r;
		char key[32], tags[16];
		uint64_t seq;
		int64_t next;
		int rc = shmq_store_read(s, off, &v);

		if (rc == SHMQ_ENOTFOUND) {
			/* a segment's filler: next_offset() skips to the next segment */
			next = shmq_store_next_offset(s, off);
			if (next < 0 || (uint64_t)next % SEG_SIZE || (uint64_t)next <= off ||
			    (uint64_t)next - off > SEG_SIZE)
				fail_msg("offset %" PRIu64 " is neither a record nor a filler (next %" PRId64 ")",
					 off, next);
			off = (uint64_t)next;
			continue;
		}
		if (rc)
			fail_msg("offset %" PRIu64 " of %" PRIu64 ": %s", off, max, shmq_strerror(rc));
		assert_int_equal(v.commitlog_offset, off);
		seq = body_check(v.body, v.body_len);
		if (seq == UINT64_MAX)
			fail_msg("offset %" PRIu64 ": body is not one the child wrote", off);
		if (!first && seq <= prev_seq)
			fail_msg("offset %" PRIu64 ": seq %" PRIu64 " after %" PRIu64, off, seq, prev_seq);
		r = (struct rec){ .seq = seq, .offset = off, .queue_offset = v.queue_offset,
				  .size = v.size, .slot = seq_slot(seq) };
		assert_int_equal(v.topic_len, strlen(slot_topic[r.slot]));
		assert_memory_equal(v.topic, slot_topic[r.slot], v.topic_len);
		assert_int_equal(v.queue_id, slot_queue[r.slot]);
		assert_int_equal(v.producer_seq, seq);
		snprintf(key, sizeof(key), "k%" PRIu64, seq);
		assert_int_equal(v.keys_len, strlen(key));
		assert_memory_equal(v.keys, key, v.keys_len);
		seq_tags(seq, tags, sizeof(tags));
		assert_int_equal(v.tags_len, strlen(tags));
		assert_memory_equal(v.tags, tags, v.tags_len);
		/* C2: the n-th record of a queue has queue offset n */
		if (v.queue_offset != qcount[r.slot])
			fail_msg("offset %" PRIu64 ": queue %s/%u offset %" PRIu64 ", expected %" PRIu64,
				 off, slot_topic[r.slot], slot_queue[r.slot], v.queue_offset,
				 qcount[r.slot]);
		qcount[r.slot]++;
		shmq_store_view_release(s, &v);
		present_push(&r);
		prev_seq = seq;
		first = false;

		next = shmq_store_next_offset(s, off);
		if (next < 0)
			fail_msg("next_offset(%" PRIu64 "): %s", off, shmq_strerror((int)next));
		/* records are packed back to back (commitlog_layout.h) */
		if ((uint64_t)next != off + r.size)
			fail_msg("next_offset(%" PRIu64 ") = %" PRId64 " (record size %u)", off, next,
				 r.size);
		off = (uint64_t)next;
	}
	assert_int_equal(off, max);
}

/* C3: consumequeues against the log. */
static void check_queues(shmq_store_t *s, const uint64_t qcount[NSLOTS])
{
	uint64_t next_q[NSLOTS] = { 0 };

	for (unsigned q = 0; q < NSLOTS; q++) {
		uint64_t min = 0, max = 0;
		struct shmq_store_cq_entry e;
		int rc = shmq_store_queue_offsets(s, slot_topic[q], slot_queue[q], &min, &max);

		if (qcount[q] == 0 && rc == SHMQ_ENOTFOUND)
			continue;
		assert_int_equal(rc, 0);
		assert_int_equal(min, 0);
		if (max != qcount[q])
			fail_msg("queue %s/%u: max %" PRIu64 " but the log holds %" PRIu64,
				 slot_topic[q], slot_queue[q], max, qcount[q]);
		assert_int_equal(shmq_store_cq_get(s, slot_topic[q], slot_queue[q], max, &e),
				 SHMQ_ENOTFOUND);
	}
	for (size_t i = 0; i < R.npresent; i++) {
		const struct rec *r = &R.present[i];
		struct shmq_store_cq_entry e;
		char tags[16];
		int rc = shmq_store_cq_get(s, slot_topic[r->slot], slot_queue[r->slot],
					   next_q[r->slot], &e);

		if (rc)
			fail_msg("cq %s/%u @%" PRIu64 ": %s", slot_topic[r->slot], slot_queue[r->slot],
				 next_q[r->slot], shmq_strerror(rc));
		if (e.commitlog_offset != r->offset || e.size != r->size)
			fail_msg("cq %s/%u @%" PRIu64 " -> (%" PRIu64 ", %u), log has (%" PRIu64 ", %u)",
				 slot_topic[r->slot], slot_queue[r->slot], next_q[r->slot],
				 e.commitlog_offset, e.size, r->offset, r->size);
		seq_tags(r->seq, tags, sizeof(tags));
		assert_int_equal(e.tag_hash, shmq_store_tag_hash(tags, strlen(tags)));
		next_q[r->slot]++;
	}
}

static void check_key(shmq_store_t *s, uint64_t seq, uint64_t expect_offset, bool expect_found)
{
	uint64_t offs[4];
	char key[32];
	int n;

	snprintf(key, sizeof(key), "k%" PRIu64, seq);
	n = shmq_store_query_key(s, slot_topic[seq_slot(seq)], key, 0, UINT64_MAX, offs, 4);
	if (!expect_found) {
		if (n != 0)
			fail_msg("key %s of a destroyed record: query returned %d", key, n);
		return;
	}
	if (n != 1 || offs[0] != expect_offset)
		fail_msg("key %s: query returned %d (%" PRIu64 "), expected offset %" PRIu64, key, n,
			 n > 0 ? offs[0] : 0, expect_offset);
}

/* C4, C5 */
static void check_acked(shmq_store_t *s)
{
	for (size_t i = 0; i < R.nacked; i++) {
		const struct ack *a = &R.acked[i];
		const struct rec *r = present_find(a->seq);

		if (!r)
			fail_msg("acknowledged seq %" PRIu64 " at offset %" PRIu64 " is missing (end %" PRIu64 ")",
				 a->seq, a->offset, shmq_store_max_offset(s));
		if (r->offset != a->offset || r->queue_offset != a->queue_offset || r->size != a->size)
			fail_msg("acknowledged seq %" PRIu64 " moved: (%" PRIu64 ", q%" PRIu64 ") -> (%" PRIu64
				 ", q%" PRIu64 ")", a->seq, a->offset, a->queue_offset, r->offset,
				 r->queue_offset);
	}
	/* the latest child's records all, plus a sample of older ones and of
	 * present but unacknowledged ones */
	for (size_t i = R.first_new_ack; i < R.nacked; i++)
		check_key(s, R.acked[i].seq, R.acked[i].offset, true);
	for (unsigned k = 0; R.nacked && k < INDEX_SAMPLE; k++) {
		const struct ack *a = &R.acked[rnd(&R.rs) % R.nacked];
		struct shmq_store_view v;

		check_key(s, a->seq, a->offset, true);
		assert_int_equal(shmq_store_read_msgid(s, a->msgid, &v), 0);
		assert_int_equal(v.commitlog_offset, a->offset);
		shmq_store_view_release(s, &v);
	}
	for (unsigned k = 0; R.npresent && k < INDEX_SAMPLE / 3; k++) {
		const struct rec *r = &R.present[rnd(&R.rs) % R.npresent];
		struct shmq_store_view v;

		check_key(s, r->seq, r->offset, true);
		assert_int_equal(shmq_store_read_queue(s, slot_topic[r->slot], slot_queue[r->slot],
						       r->queue_offset, &v), 0);
		assert_int_equal(v.commitlog_offset, r->offset);
		shmq_store_view_release(s, &v);
	}
	for (size_t i = 0; i < R.nlost; i++)
		check_key(s, R.lost[i], 0, false);
}

/* C6: nothing stale may remain past the recovered end, where the next
 * appends go (the segment holding the end, and any later file). */
static void check_no_bytes_past_end(uint64_t end)
{
	static uint8_t buf[SEG_SIZE];
	DIR *d;
	struct dirent *de;
	char path[512];

	snprintf(path, sizeof(path), "%s/commitlog", R.dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t base;
		char *e;
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		base = strtoull(de->d_name, &e, 10);
		if (*e || strlen(de->d_name) != 20 || base + SEG_SIZE <= end)
			continue;
		snprintf(path, sizeof(path), "%s/commitlog/%s", R.dir, de->d_name);
		fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		n = pread(fd, buf, sizeof(buf), 0);
		close(fd);
		if (n != (ssize_t)SEG_SIZE)
			fail_msg("segment %s: %zd bytes after recovery, expected %u", de->d_name, n,
				 SEG_SIZE);
		for (uint64_t i = end > base ? end - base : 0; i < SEG_SIZE; i++)
			if (buf[i])
				fail_msg("segment %s: stale byte at %" PRIu64 " past the recovered end %" PRIu64,
					 de->d_name, base + i, end);
	}
	closedir(d);
}

static void verify(const struct damage_done *d, uint64_t ack_end_before)
{
	struct shmq_store_recovery_report rep;
	struct shmq_store_opts o;
	uint64_t qcount[NSLOTS], end;
	shmq_store_t *s = NULL;
	size_t gone = 0;
	int rc;

	store_opts(&o, R.dir);
	rc = shmq_store_open(&o, &s, &rep);
	if (rc)
		fail_msg("open after kill %" PRIu64 ": %s", R.kills, shmq_strerror(rc));
	end = rep.end_offset;
	if (end > R.max_end)
		R.max_end = end;
	/* C6 */
	if (R.opened_since_clean)
		assert_true(rep.abnormal);
	assert_int_equal(end, shmq_store_max_offset(s));
	assert_int_equal(rep.truncate_offset, end);
	assert_true(rep.segments_scanned <= rep.segments_found);
	assert_true(rep.scan_from <= end || (d->applied && d->kind == DAMAGE_TRUNC_CUT));
	assert_true(rep.reason >= SHMQ_RECOVERY_CLEAN_END && rep.reason <= SHMQ_RECOVERY_ZEROED);
	assert_non_null(shmq_store_recovery_reason_str(rep.reason));
	if (!(d->applied && d->kind == DAMAGE_TRUNC_CUT)) {
		if (end < ack_end_before)
			fail_msg("recovered end %" PRIu64 " is below the acknowledged end %" PRIu64
				 " (damage %d at %" PRIu64 ")", end, ack_end_before, d->kind, d->at);
	}
	/* a truncation may have removed bytes the checkpoint vouched for */
	if (rep.checkpoint_valid && !(d->applied && d->kind != DAMAGE_GARBAGE_TAIL) &&
	    rep.checkpoint_offset > end)
		fail_msg("recovered end %" PRIu64 " is below the checkpoint's %" PRIu64, end,
			 rep.checkpoint_offset);
	if (d->applied) {
		switch (d->kind) {
		case DAMAGE_GARBAGE_TAIL:
			/* the junk was behind the recovered end: it must have been cut */
			if (end <= d->at) {
				if (rep.bytes_truncated == 0 || rep.reason == SHMQ_RECOVERY_CLEAN_END) {
					shmq_store_report_print(&rep, stderr);
					fail_msg("junk at %" PRIu64 " behind end %" PRIu64 " not reported cut",
						 d->at, end);
				}
			}
			break;
		case DAMAGE_TRUNC_BEYOND:
		case DAMAGE_TRUNC_CUT:
			gone = forget_acked_after(d->nz);
			R.lost_acked += gone;
			/* nothing removed may come back; nothing intact may go */
			if (end > d->nz || end < ack_end()) {
				shmq_store_report_print(&rep, stderr);
				fail_msg("segment cut at %" PRIu64 " (first non-zero byte removed %" PRIu64
					 "): recovered end %" PRIu64 ", acknowledged records before the cut"
					 " end at %" PRIu64, d->at, d->nz, end, ack_end());
			}
			/* it cut below what the checkpoint vouched for: say so */
			if (rep.checkpoint_valid && rep.checkpoint_offset > end &&
			    rep.reason != SHMQ_RECOVERY_SHORT_FILE) {
				shmq_store_report_print(&rep, stderr);
				fail_msg("segment cut at %" PRIu64 " below the checkpoint not reported as short",
					 d->at);
			}
			if (gone)
				assert_true(rep.cq_entries_dropped > 0);
			break;
		case DAMAGE_NONE:
			break;
		}
	}
	if (rep.bytes_truncated) {
		R.bytes_cut += rep.bytes_truncated;
		R.cuts++;
	}
	check_no_bytes_past_end(end);
	check_log(s, qcount);
	check_queues(s, qcount);
	check_acked(s);
	assert_int_equal(shmq_store_close(s), 0);
	R.opened_since_clean = false;
	R.clean = true;
	R.verified++;
}

/* ------------------------------------------------------------------ */

static void crash_loop(enum damage kind)
{
	uint64_t scale = env_u64("SHMQ_STRESS_SCALE", 1), iters = BASE_ITERATIONS * scale;
	uint64_t t0 = shmq_now_ns();
	static const char *const names[] = { "none", "garbage-tail", "truncate-beyond",
					     "truncate-cut" };

	R.seed = env_u64("SHMQ_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20));
	R.rs = mix64(R.seed + (uint64_t)kind);
	R.damage = kind;
	print_message("crash_store %s: seed %" PRIu64 " (SHMQ_SEED to replay), %" PRIu64
		      " iterations, dir %s\n", names[kind], R.seed, iters, R.dir);
	for (unsigned it = 1; it <= iters; it++) {
		struct damage_done d = { .kind = kind };
		uint64_t delay, r = rnd(&R.rs), before;
		/* a few kills land early: during open or its recovery */
		bool chain = kind == DAMAGE_NONE && rnd(&R.rs) % 4 == 0 && it < iters;

		delay = (r % 8 == 0) ? r % (3ull * 1000 * 1000) : r % MAX_KILL_DELAY_NS;
		run_child(it, delay, R.clean);
		if (chain) {
			/* the next child recovers this crash itself (and may die doing it) */
			R.chained++;
			continue;
		}
		before = ack_end();
		damage_store(&d);
		verify(&d, before);
	}
	print_message("crash_store %s: %" PRIu64 " kills (%" PRIu64 " chained), %" PRIu64
		      " verified opens, %zu acknowledged records kept, %" PRIu64
		      " destroyed on purpose, %" PRIu64 " cuts (%" PRIu64 " bytes), log end %" PRIu64
		      ", %.1f s\n", names[kind], R.kills, R.chained, R.verified, R.nacked,
		      R.lost_acked, R.cuts, R.bytes_cut, R.max_end,
		      (double)(shmq_now_ns() - t0) / 1e9);
}

static void test_sigkilled_sync_appender_loses_no_acknowledged_record(void **state)
{
	(void)state;
	crash_loop(DAMAGE_NONE);
}

static void test_random_bytes_over_unacknowledged_tail_are_cut_and_acknowledged_records_survive(
	void **state)
{
	(void)state;
	crash_loop(DAMAGE_GARBAGE_TAIL);
}

static void test_segment_truncated_after_acknowledged_end_recovers_every_acknowledged_record(
	void **state)
{
	(void)state;
	crash_loop(DAMAGE_TRUNC_BEYOND);
}

static void test_segment_truncated_inside_acknowledged_data_keeps_a_dense_valid_prefix(
	void **state)
{
	(void)state;
	crash_loop(DAMAGE_TRUNC_CUT);
}

/*
 * Deterministic regression for the random truncate-cut runs: a segment file
 * cut below the checkpoint's offset (here after a clean close, so the
 * checkpoint covers the whole log) must not be trusted up to the checkpoint:
 * recovery verifies the segment from its start, ends the log at the last
 * whole record before the cut, reports a short file, and keeps that prefix
 * dense in the consumequeues (it used to keep the checkpoint's end and serve
 * zeros).
 */
static void test_segment_cut_below_the_checkpoint_is_reported_and_the_prefix_kept(void **state)
{
	enum { N = 100, CUT_AT = 60 };
	static uint8_t body[600];
	struct shmq_store_result res[N];
	struct shmq_store_recovery_report rep;
	struct shmq_store_opts o;
	uint64_t qcount[NSLOTS], cut;
	shmq_store_t *s = NULL;
	char path[256];

	(void)state;
	store_opts(&o, R.dir);
	assert_int_equal(shmq_store_open(&o, &s, NULL), 0);
	for (unsigned i = 0; i < N; i++) {
		uint64_t seq = i;
		uint32_t slot = seq_slot(seq);
		char key[32], tags[16];
		struct shmq_store_msg m = { .topic = slot_topic[slot], .queue_id = slot_queue[slot],
					    .body = body, .body_len = sizeof(body), .keys = key,
					    .tags = tags, .producer_seq = seq };

		body_fill(body, sizeof(body), seq);
		snprintf(key, sizeof(key), "k%" PRIu64, seq);
		seq_tags(seq, tags, sizeof(tags));
		assert_int_equal(shmq_store_append(s, &m, 1, &res[i]), 1);
	}
	assert_int_equal(shmq_store_close(s), 0);
	/* all N records sit in segment 0, and the checkpoint covers them */
	assert_true(res[N - 1].commitlog_offset + res[N - 1].size < SEG_SIZE);
	assert_int_equal(checkpoint_offset(), res[N - 1].commitlog_offset + res[N - 1].size);

	cut = res[CUT_AT].commitlog_offset + res[CUT_AT].size / 2;
	seg_path(0, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)cut), 0);

	assert_int_equal(shmq_store_open(&o, &s, &rep), 0);
	if (rep.end_offset != res[CUT_AT].commitlog_offset ||
	    rep.reason != SHMQ_RECOVERY_SHORT_FILE) {
		shmq_store_report_print(&rep, stderr);
		fail_msg("cut at %" PRIu64 ": end %" PRIu64 " (want %" PRIu64 "), reason %s", cut,
			 rep.end_offset, res[CUT_AT].commitlog_offset,
			 shmq_store_recovery_reason_str(rep.reason));
	}
	assert_true(rep.bytes_truncated > 0);  /* the half record before the cut */
	assert_true(rep.cq_entries_dropped >= N - CUT_AT);
	check_log(s, qcount);
	assert_int_equal(R.npresent, CUT_AT);
	check_queues(s, qcount);
	for (unsigned i = 0; i < N; i++)
		check_key(s, i, res[i].commitlog_offset, i < CUT_AT);
	assert_int_equal(shmq_store_close(s), 0);
	check_no_bytes_past_end(res[CUT_AT].commitlog_offset);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_segment_cut_below_the_checkpoint_is_reported_and_the_prefix_kept, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_sigkilled_sync_appender_loses_no_acknowledged_record,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_random_bytes_over_unacknowledged_tail_are_cut_and_acknowledged_records_survive,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_segment_truncated_after_acknowledged_end_recovers_every_acknowledged_record,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_segment_truncated_inside_acknowledged_data_keeps_a_dense_valid_prefix,
			setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
