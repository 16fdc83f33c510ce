/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The multi-producer shared-memory ring (contract: include/shmq/ring.h,
 * layout: shm/ring_layout.h).
 *
 * Invariants (positions are byte counters that only grow):
 *  I1  head <= reclaim, head <= consumed <= tail <= head + capacity.
 *  I2  Zeroing: every byte of [tail, head + capacity) is zero. Creation gives
 *      zeros; the gating reader zeroes [old_head, new_head) before it
 *      release-stores head = new_head, and producers acquire-load head before
 *      they reserve, so a producer only ever claims zeroed bytes. This is why
 *      "len word == 0" means "nothing written yet" and why the G6 walk can
 *      tell a dead reservation (zero words) from a live header (non-zero).
 *  I3  reclaim is announced (stored, then a seq_cst fence) before bytes below
 *      it are zeroed or reused. A non-gating reader that read bytes at
 *      [p, ...) and then (acquire fence) sees reclaim <= p read them intact
 *      (seqlock style, G5).
 *  I4  Records never straddle the end of the data area; a producer whose
 *      record does not fit reserves the gap too (same CAS) and pads it.
 *  I5  Only the gating reader writes head, reclaim, consumed and the anchor,
 *      and only it turns RESERVED/zero len words into padding (G6).
 *
 * Everything read from the mapping is untrusted (G8): the handle keeps its
 * own copy of capacity/max_msg from attach time, every offset is masked into
 * the data area and every length is checked before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "shm/futex.h"
#include "shm/ring_layout.h"
#include "shmq/ring.h"

#define REC_HDR          ((uint32_t)sizeof(struct shmq_ring_rec))
#define INNER_HDR        ((uint32_t)sizeof(struct shmq_ring_inner))
#define DEFAULT_CAPACITY (4ull << 20)
#define DEFAULT_UNBLOCK  1000000000ull
#define SPIN_ITERS       256u
#define YIELD_ITERS      4
/* The gating reader batches anyway: between polls it leaves producers up to
 * 64 pauses (~1.6 us here) to fill records undisturbed (see ring_wait()). */
#define GATE_POLL_GAP    64u
#define GATE_SPIN_ITERS  2048u /* ~50 us of pauses, 32 polls */

/*
 * Zero-copy reads of bytes that the gating reader may be reclaiming at the
 * same moment are a benign race by design: the reader validates afterwards
 * (I3) and discards what it read if reclaim passed it. ThreadSanitizer cannot
 * know that, so the functions that parse ring bytes are not instrumented.
 */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define SHMQ_NO_TSAN __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef SHMQ_NO_TSAN
#define SHMQ_NO_TSAN
#endif
#if defined(__SANITIZE_THREAD__)
#define SHMQ_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMQ_TSAN_BUILD 1
#endif
#endif

struct shmq_ring {
	int fd;
	uint8_t *map;
	size_t map_len;
	struct shmq_ring_header *h;
	uint8_t *data;
	/* Copied and validated at attach; never re-read from shared memory. */
	uint64_t cap;
	uint64_t mask;
	uint32_t max_msg;
	uint32_t max_total;  /* largest non-padding record, header included */
	uint64_t unblock_ns;
	/* Gating reader only (process-local): the head-of-line record we wait on. */
	bool stuck_valid;
	bool stuck_continued; /* stuck_pos continues the dead reservation just padded */
	uint64_t stuck_pos;
	uint64_t stuck_since;
	/* Gating reader only: the largest tail it loaded and validated. Tail
	 * only grows, so this is a lower bound that spares the hot path a load
	 * of the line every producer CASes (one transfer per message). */
	uint64_t seen_tail;
};

static inline uint64_t align8(uint64_t x)
{
	return SHMQ_ALIGN_UP(x, 8ull);
}

/* The len word of the record at pos. Garbage positions still land inside the
 * data area and on a 4-byte boundary (the & ~7). */
static inline _Atomic uint32_t *len_word(const shmq_ring_t *r, uint64_t pos)
{
	return (_Atomic uint32_t *)(void *)(r->data + (pos & r->mask & ~7ull));
}

static inline struct shmq_ring_rec *rec_at(const shmq_ring_t *r, uint64_t pos)
{
	return (struct shmq_ring_rec *)(void *)(r->data + (pos & r->mask & ~7ull));
}

static inline bool len_committed(uint32_t w)
{
	return w != 0 && !(w & SHMQ_RING_LEN_RESERVED);
}

/* Gap a record of @p total bytes needs before it when reserved at @p tail (I4). */
static inline uint64_t wrap_gap(const shmq_ring_t *r, uint64_t tail, uint64_t total)
{
	uint64_t off = tail & r->mask;
	return off + total > r->cap ? r->cap - off : 0;
}

/* ------------------------------------------------------------------ */
/* Waking and waiting                                                  */

/*
 * Waker half of the Dekker pattern. The caller has just published a state
 * change (commit CAS, head store, mark CAS, fence flag). The seq_cst fence
 * pairs with the seq_cst increment + fence a waiter does before re-checking
 * its condition: either we see its count here, or it sees our change.
 * With no sleepers, no syscall is made (futex_wakes stays put).
 */
static void wake_if_waiters(shmq_ring_t *r, _Atomic uint32_t *seq, _Atomic uint32_t *waiters)
{
	shmq_fence_seq_cst();
	/* relaxed: ordered by the fence above (see the comment). */
	if (shmq_load_relaxed(waiters) == 0)
		return;
	/* release: a sleeper whose futex_wait saw the old value is woken below;
	 * one that loads the new value re-checks its condition. */
	atomic_fetch_add_explicit(seq, 1, memory_order_release);
	shmq_futex_wake(seq, INT_MAX);
	/* relaxed: a statistic. */
	shmq_fetch_add_relaxed(&r->h->st_futex_wakes, 1);
}

/*
 * Same, for a waker whose state change was itself a seq_cst RMW (the commit
 * CAS): the RMW and the seq_cst load of the count below already order the
 * two in the single total order that the waiter's seq_cst increment + fence
 * take part in, so no separate fence is needed (on x86 the locked CAS is the
 * barrier; this saves an mfence per commit).
 */
static void wake_if_waiters_after_sc_rmw(shmq_ring_t *r, _Atomic uint32_t *seq,
					 _Atomic uint32_t *waiters)
{
	/* seq_cst: pairs with the waiter's seq_cst increment + fence (Dekker). */
	if (atomic_load_explicit(waiters, memory_order_seq_cst) == 0)
		return;
	/* release: as in wake_if_waiters(). */
	atomic_fetch_add_explicit(seq, 1, memory_order_release);
	shmq_futex_wake(seq, INT_MAX);
	/* relaxed: a statistic. */
	shmq_fetch_add_relaxed(&r->h->st_futex_wakes, 1);
}

struct wait_arg {
	uint64_t pos;
	uint64_t len;
	unsigned kind;
	/* Largest number of pauses between two polls while spinning (>= 1). */
	unsigned poll_gap;
	/* Sleep at once: no spin, no yields (an idle gating reader). */
	bool no_spin;
};

/* 1 = condition holds, 0 = keep waiting, < 0 = give up with that status. */
typedef int (*wait_cond_fn)(shmq_ring_t *r, const struct wait_arg *a);
typedef void (*wait_sleep_fn)(shmq_ring_t *r);

/*
 * Spin briefly, yield a few times, then sleep on *seq with *waiters counted.
 * Waiter half of the Dekker pattern: the count is raised (seq_cst, then a
 * seq_cst fence) BEFORE the condition is re-checked, and *seq is loaded
 * before the check, so a wake between the check and the futex call makes the
 * kernel's compare fail (-EAGAIN) instead of being lost.
 */
static int ring_wait(shmq_ring_t *r, _Atomic uint32_t *seq, _Atomic uint32_t *waiters,
		     wait_cond_fn cond, const struct wait_arg *a, uint64_t timeout_ns,
		     wait_sleep_fn before_sleep)
{
	int c = 0;
	/* A sparse poller's caller has just found nothing: look again only
	 * after the first gap (unless it may not wait at all). */
	if (a->poll_gap <= 1 || timeout_ns == 0)
		c = cond(r, a);
	if (c != 0)
		return c > 0 ? 0 : c;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	uint64_t start = shmq_now_ns();
	uint64_t deadline = timeout_ns == UINT64_MAX || start + timeout_ns < start ?
		UINT64_MAX : start + timeout_ns;
	/* A caught-up reader polling back to back steals the line the producer
	 * is writing (the record's len word, and the tail) on every poll, and
	 * each steal stalls the producer's next locked CAS for a cross-core
	 * transfer. The gating reader batches anyway, so it polls every
	 * poll_gap pauses, over a longer spin so that it rarely pays the
	 * ~30 us futex wake-up (64 B unbatched, one producer: 14-16 M msg/s ->
	 * 23-25 M, batched 38-40 -> 54-56 M; 4 + 4 alternated runs, bench ring
	 * --realtime). Waiters for one record still poll back to back. */
	unsigned gap = a->poll_gap > 1 ? a->poll_gap : 1;
	unsigned spin_iters = a->no_spin ? 0 : gap > 1 ? GATE_SPIN_ITERS : SPIN_ITERS;
	for (unsigned i = 0; i < spin_iters;) {
		for (unsigned k = 0; k < gap && i < spin_iters; k++, i++)
			shmq_cpu_relax();
		if ((c = cond(r, a)) != 0)
			return c > 0 ? 0 : c;
		if (gap > 1 && shmq_now_ns() >= deadline)
			return -ETIMEDOUT; /* a long spin must not outlast a short timeout */
	}
	for (int i = 0; i < (a->no_spin ? 0 : YIELD_ITERS); i++) {
		sched_yield();
		if ((c = cond(r, a)) != 0)
			return c > 0 ? 0 : c;
	}
	/* seq_cst: the waiter half of the Dekker pairing with wake_if_waiters(). */
	atomic_fetch_add_explicit(waiters, 1, memory_order_seq_cst);
	shmq_fence_seq_cst();
	if (before_sleep)
		before_sleep(r);
	int rc;
	for (;;) {
		/* acquire: pairs with the waker's release increment of *seq. */
		uint32_t s = shmq_load_acquire(seq);
		if ((c = cond(r, a)) != 0) {
			rc = c > 0 ? 0 : c;
			break;
		}
		uint64_t now = shmq_now_ns();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		int w = shmq_futex_wait(seq, s, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
		if (w == -EINTR) {
			rc = -EINTR;
			break;
		}
	}
	/* release: nothing to publish, but keeps our reads before the count drops. */
	atomic_fetch_sub_explicit(waiters, 1, memory_order_release);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Create / attach                                                     */

static uint32_t max_payload_for(uint64_t cap)
{
	uint64_t q = cap / 4;
	return q < SHMQ_RING_MAX_PAYLOAD ? (uint32_t)q : SHMQ_RING_MAX_PAYLOAD;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int map_handle(int fd, size_t size, uint64_t cap, uint32_t max_msg, uint64_t unblock_ns,
		      uint8_t *map, shmq_ring_t **out)
{
	shmq_ring_t *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->map = map;
	r->map_len = size;
	r->h = (struct shmq_ring_header *)(void *)map;
	r->data = map + SHMQ_RING_DATA_OFFSET;
	r->cap = cap;
	r->mask = cap - 1;
	r->max_msg = max_msg;
	r->max_total = REC_HDR + max_payload_for(cap);
	r->unblock_ns = unblock_ns;
	*out = r;
	return 0;
}

int shmq_ring_create(const char *path, const struct shmq_ring_opts *opts, shmq_ring_t **out)
{
	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	struct shmq_ring_opts o;
	memset(&o, 0, sizeof(o));
	bool prefault = true;
	if (opts) {
		if (opts->sz < offsetof(struct shmq_ring_opts, capacity) + sizeof(o.capacity))
			return -EINVAL;
		size_t n = opts->sz < sizeof(o) ? opts->sz : sizeof(o);
		memcpy(&o, opts, n);
		if (n >= offsetof(struct shmq_ring_opts, prefault) + sizeof(o.prefault))
			prefault = o.prefault;
	}
	uint64_t cap = o.capacity ? o.capacity : DEFAULT_CAPACITY;
	if (!is_pow2(cap) || cap < SHMQ_RING_MIN_CAPACITY || cap > SHMQ_RING_MAX_CAPACITY)
		return -EINVAL;
	uint32_t max_msg = o.max_msg ? o.max_msg : max_payload_for(cap);
	if (max_msg > max_payload_for(cap))
		return -EINVAL;
	uint64_t unblock_ns = o.unblock_timeout_ns ? o.unblock_timeout_ns : DEFAULT_UNBLOCK;
	mode_t mode = o.mode ? (mode_t)o.mode : 0600;

	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc;
	size_t size = (size_t)(SHMQ_RING_DATA_OFFSET + cap);
	if (ftruncate(fd, (off_t)size) != 0) {
		rc = -errno;
		goto fail_unlink;
	}
	uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto fail_unlink;
	}
	if (prefault) {
		/* Untouched tmpfs pages write at ~0.4 GB/s on first use (platform
		 * notes): take the page faults now, not on the hot path. */
		long pg = sysconf(_SC_PAGESIZE);
		for (size_t i = 0; i < size; i += (size_t)(pg > 0 ? pg : 4096))
			((volatile uint8_t *)map)[i] = 0;
	}
	struct shmq_ring_header *h = (struct shmq_ring_header *)(void *)map;
	h->version = SHMQ_RING_VERSION;
	h->data_offset = SHMQ_RING_DATA_OFFSET;
	h->fingerprint = shmq_ring_layout_fingerprint();
	h->capacity = cap;
	h->max_msg = max_msg;
	h->unblock_timeout_ns = unblock_ns;
	/* Cursors, counters and the data area are zero in a fresh file (I2).
	 * Magic goes last: an attacher racing with us sees 0 and says ELAYOUT.
	 * release fence: orders the fields above before the magic store. */
	shmq_fence_release();
	h->magic = SHMQ_RING_MAGIC;
	rc = map_handle(fd, size, cap, max_msg, unblock_ns, map, out);
	if (rc == 0)
		return 0;
	munmap(map, size);
fail_unlink:
	unlink(path);
	close(fd);
	return rc;
}

/* Maps @p fd (owned by the caller until success) and validates the header. */
static int attach_mapped(int fd, shmq_ring_t **out)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (st.st_size < (off_t)SHMQ_RING_DATA_OFFSET ||
	    (uint64_t)st.st_size > SHMQ_RING_DATA_OFFSET + SHMQ_RING_MAX_CAPACITY)
		return SHMQ_ECORRUPT;
	size_t size = (size_t)st.st_size;
	uint8_t *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	const struct shmq_ring_header *h = (const struct shmq_ring_header *)(void *)map;
	/* acquire fence after reading magic: pairs with the creator's release fence. */
	uint64_t magic = h->magic;
	shmq_fence_acquire();
	int rc = 0;
	uint64_t cap = h->capacity;
	uint32_t max_msg = h->max_msg;
	uint64_t unblock_ns = h->unblock_timeout_ns;
	if (magic != SHMQ_RING_MAGIC || h->version != SHMQ_RING_VERSION ||
	    h->fingerprint != shmq_ring_layout_fingerprint() ||
	    h->data_offset != SHMQ_RING_DATA_OFFSET)
		rc = SHMQ_ELAYOUT;
	else if (!is_pow2(cap) || cap < SHMQ_RING_MIN_CAPACITY || cap > SHMQ_RING_MAX_CAPACITY ||
		 size != SHMQ_RING_DATA_OFFSET + cap || max_msg == 0 ||
		 max_msg > max_payload_for(cap) || unblock_ns == 0)
		rc = SHMQ_ECORRUPT;
	if (rc == 0)
		rc = map_handle(fd, size, cap, max_msg, unblock_ns, map, out);
	if (rc != 0)
		munmap(map, size);
	return rc;
}

int shmq_ring_attach(const char *path, shmq_ring_t **out)
{
	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = attach_mapped(fd, out);
	if (rc != 0)
		close(fd);
	return rc;
}

int shmq_ring_attach_fd(int fd, shmq_ring_t **out)
{
	if (fd < 0 || !out)
		return -EINVAL;
	*out = NULL;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0)
		return -errno;
	int rc = attach_mapped(nfd, out);
	if (rc != 0)
		close(nfd);
	return rc;
}

void shmq_ring_close(shmq_ring_t *r)
{
	if (!r)
		return;
	munmap(r->map, r->map_len);
	close(r->fd);
	free(r);
}

void shmq_ring_mapping(const shmq_ring_t *r, void **addr, size_t *len)
{
	*addr = r->map;
	*len = r->map_len;
}

int shmq_ring_fd(const shmq_ring_t *r)
{
	return r->fd;
}

uint64_t shmq_ring_capacity(const shmq_ring_t *r)
{
	return r->cap;
}

uint32_t shmq_ring_max_msg(const shmq_ring_t *r)
{
	return r->max_msg;
}

/* ------------------------------------------------------------------ */
/* Producers                                                           */

/* Tell the gating reader that a producer needs room (lazy release ends). */
static void request_space(shmq_ring_t *r)
{
	/* relaxed pre-check: while the flag is up, back-pressured producers
	 * only read its line. acq_rel exchange: only the first requester pays
	 * for the wake; the gating reader clears the flag when it releases. */
	if (shmq_load_relaxed(&r->h->space_wanted) == 0 &&
	    atomic_exchange_explicit(&r->h->space_wanted, 1, memory_order_acq_rel) == 0)
		wake_if_waiters(r, &r->h->data_seq, &r->h->data_waiters);
}

static void request_space_sleeping(shmq_ring_t *r)
{
	/* Always wake a gate_wait()er: it checks space_waiters, just raised. */
	atomic_store_explicit(&r->h->space_wanted, 1, memory_order_release); /* pairs with gate's exchange */
	wake_if_waiters(r, &r->h->data_seq, &r->h->data_waiters);
}

/*
 * Reserve @p total bytes (a whole record) and claim its len word.
 * Returns 0 and the record position, SHMQ_BACK_PRESSURED, SHMQ_EFENCED or
 * SHMQ_ERECLAIMED (the gating reader poisoned our len word: G6).
 */
static int claim(shmq_ring_t *r, uint32_t total, uint64_t *pos_out)
{
	struct shmq_ring_header *h = r->h;
	/* relaxed: a stale "not fenced" lets one more record in; the gating
	 * reader refuses to read past the corruption anyway. */
	if (shmq_load_relaxed(&h->fenced))
		return SHMQ_EFENCED;
	/* relaxed: only a starting guess for the CAS, which returns the truth. */
	uint64_t tail = shmq_load_relaxed(&h->tail);
	uint64_t gap;
	for (;;) {
		/* acquire: pairs with the gating reader's release store of head,
		 * made after it zeroed the freed bytes (I2). */
		uint64_t head = shmq_load_acquire(&h->head);
		gap = wrap_gap(r, tail, total);
		/* A stale (smaller) tail only makes this test pass more easily, so
		 * back-pressure reported here is real. */
		if (tail + gap + total > head + r->cap) {
			/* relaxed: a statistic. */
			shmq_fetch_add_relaxed(&h->st_backpressured, 1);
			request_space(r);
			return SHMQ_BACK_PRESSURED;
		}
		/* relaxed on success: ordering with head came from the acquire
		 * above; readers synchronise through the len word's CAS (G2), and
		 * a reader that acquires it then sees this tail or a later one. */
		if (atomic_compare_exchange_weak_explicit(&h->tail, &tail, tail + gap + total,
							  memory_order_relaxed, memory_order_relaxed))
			break;
		shmq_cpu_relax();
	}
	SHMQ_YIELD_POINT();
	if (gap) {
		/* release: a reader that acquires the pad skips the gap. If this
		 * fails the gating reader declared the gap dead (G6 walk) and pads
		 * exactly [tail, end of buffer) itself: our record is unaffected. */
		uint32_t z = 0;
		atomic_compare_exchange_strong_explicit(len_word(r, tail), &z,
			SHMQ_RING_LEN_PAD | (uint32_t)gap, memory_order_release, memory_order_relaxed);
	}
	uint64_t pos = tail + gap;
	uint32_t z = 0;
	/* acquire on success: our header/payload writes stay after the claim.
	 * Failure: the gating reader poisoned the word after the unblock timeout. */
	if (!atomic_compare_exchange_strong_explicit(len_word(r, pos), &z,
			SHMQ_RING_LEN_RESERVED | total, memory_order_acquire, memory_order_relaxed)) {
		/* relaxed: a statistic. */
		shmq_fetch_add_relaxed(&h->st_reclaimed_commits, 1);
		return SHMQ_ERECLAIMED;
	}
	*pos_out = pos;
	return 0;
}

/* Commit: CAS RESERVED|total -> total. The only failure is G6 padding. */
static int publish(shmq_ring_t *r, uint64_t pos, uint32_t total)
{
	SHMQ_YIELD_POINT();
	uint32_t expect = SHMQ_RING_LEN_RESERVED | total;
	/* seq_cst (includes release): the commit (G2), pairs with readers'
	 * acquire load of len; seq_cst also makes it the Dekker store for the
	 * data-waiter check below. */
	if (!atomic_compare_exchange_strong_explicit(len_word(r, pos), &expect, total,
						     memory_order_seq_cst, memory_order_relaxed)) {
		/* relaxed: a statistic. */
		shmq_fetch_add_relaxed(&r->h->st_reclaimed_commits, 1);
		return SHMQ_ERECLAIMED;
	}
	wake_if_waiters_after_sc_rmw(r, &r->h->data_seq, &r->h->data_waiters);
	return 0;
}

int shmq_ring_reserve(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
		      uint32_t len, struct shmq_ring_claim *c)
{
	if (!r || !c || type < SHMQ_RING_TYPE_USER)
		return -EINVAL;
	if (len > r->max_msg)
		return SHMQ_ETOOBIG;
	uint32_t total = (uint32_t)align8((uint64_t)REC_HDR + len);
	uint64_t pos;
	int rc = claim(r, total, &pos);
	if (rc != 0)
		return rc;
	struct shmq_ring_rec *rec = rec_at(r, pos);
	rec->type = type;
	rec->count = 1;
	rec->producer_id = producer_id;
	rec->payload_len = len;
	c->data = rec + 1;
	c->len = len;
	c->pos = pos;
	return 0;
}

int shmq_ring_commit(shmq_ring_t *r, struct shmq_ring_claim *c)
{
	if (!r || !c)
		return -EINVAL;
	return publish(r, c->pos, (uint32_t)align8((uint64_t)REC_HDR + c->len));
}

int shmq_ring_write(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
		    const void *buf, uint32_t len)
{
	if (len && !buf)
		return -EINVAL;
	struct shmq_ring_claim c;
	int rc = shmq_ring_reserve(r, producer_id, type, len, &c);
	if (rc != 0)
		return rc;
	if (len)
		memcpy(c.data, buf, len);
	return shmq_ring_commit(r, &c);
}

int shmq_ring_batch_reserve(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
			    uint32_t count, const uint32_t *lens,
			    struct shmq_ring_batch *b)
{
	if (!r || !b || !lens || type < SHMQ_RING_TYPE_USER || count == 0 ||
	    count > SHMQ_RING_BATCH_MAX)
		return -EINVAL;
	uint64_t payload = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (lens[i] > r->max_msg)
			return SHMQ_ETOOBIG;
		payload += INNER_HDR + align8(lens[i]);
	}
	if (REC_HDR + payload > r->max_total)
		return SHMQ_ETOOBIG;
	uint32_t total = (uint32_t)(REC_HDR + payload);
	uint64_t pos;
	int rc = claim(r, total, &pos);
	if (rc != 0)
		return rc;
	struct shmq_ring_rec *rec = rec_at(r, pos);
	rec->type = SHMQ_RING_REC_BATCH;
	rec->count = (uint16_t)count;
	rec->producer_id = producer_id;
	rec->payload_len = (uint32_t)payload;
	uint8_t *p = (uint8_t *)(rec + 1);
	for (uint32_t i = 0; i < count; i++) {
		struct shmq_ring_inner *in = (struct shmq_ring_inner *)(void *)p;
		in->len = lens[i];
		in->type = type;
		in->index = (uint16_t)i;
		p += INNER_HDR + align8(lens[i]);
	}
	b->pos = pos;
	b->count = count;
	b->total = total;
	b->base = rec;
	b->lens = lens;
	return 0;
}

/* Where the calling thread last found a message of a batch: a batch belongs
 * to one thread, and callers fill messages in order, so resuming the walk
 * from here makes shmq_ring_batch_data() O(1) instead of O(i). Keyed by base
 * AND pos: a later batch at the same address (a lap later) has another pos. */
static _Thread_local struct {
	const void *base;
	uint64_t pos;
	uint32_t index;
	uint32_t off;
} batch_cursor;

void *shmq_ring_batch_data(const struct shmq_ring_batch *b, uint32_t i)
{
	if (!b || !b->base || !b->lens || i >= b->count)
		return NULL;
	/* Placed by the caller's lengths, as reserve laid them out: the inner
	 * headers in the ring are shared memory, and a length another process
	 * raised there would place a message past the reservation. */
	uint8_t *base = b->base;
	uint32_t k = 0;
	uint64_t off = REC_HDR;
	if (batch_cursor.base == base && batch_cursor.pos == b->pos && batch_cursor.index <= i) {
		k = batch_cursor.index;
		off = batch_cursor.off;
	}
	for (; k < i; k++)
		off += INNER_HDR + align8(b->lens[k]);
	if (off + INNER_HDR + b->lens[i] > b->total)
		return NULL; /* the lengths changed since the reserve */
	batch_cursor.base = base;
	batch_cursor.pos = b->pos;
	batch_cursor.index = i;
	batch_cursor.off = (uint32_t)off;
	return base + off + INNER_HDR;
}

int shmq_ring_batch_commit(shmq_ring_t *r, struct shmq_ring_batch *b)
{
	if (!r || !b)
		return -EINVAL;
	return publish(r, b->pos, b->total);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

enum { DEC_STOP = -1, DEC_FULL = -2, DEC_BAD = -3 };

/*
 * decode() is not instrumented (SHMQ_NO_TSAN), so ThreadSanitizer does not
 * see its acquire load of a committed record's len word, nor therefore that
 * the producer's writes happen before the reader's later uses of the bytes
 * (a false race whenever producer and reader share a process, e.g. shmqd's
 * remote port and its persister). Under TSan only, repeat that acquire where
 * TSan sees it; pairs with the commit CAS as decode()'s does.
 */
static inline void tsan_acquire_record(const shmq_ring_t *r, uint64_t pos)
{
#ifdef SHMQ_TSAN_BUILD
	(void)shmq_load_acquire(len_word(r, pos));
#else
	(void)r;
	(void)pos;
#endif
}

/*
 * Decode the record at @p pos into msgs[0..room). Returns the number of
 * messages (0 for padding) and its total length, or DEC_STOP (not committed),
 * DEC_FULL (does not fit in @p room), DEC_BAD (invalid: G8). *tail is
 * reloaded if the record seems to pass it.
 */
SHMQ_NO_TSAN
static int decode(const shmq_ring_t *r, uint64_t pos, uint64_t *tail,
		  struct shmq_ring_msg *msgs, unsigned room, uint32_t *total_out)
{
	if (pos & 7)
		return DEC_BAD;
	uint64_t off = pos & r->mask;
	/* acquire: pairs with the producer's release commit CAS (G2) or the
	 * release store/CAS of a padding len word. */
	uint32_t w = shmq_load_acquire(len_word(r, pos));
	if (!len_committed(w))
		return DEC_STOP;
	uint64_t total = w & SHMQ_RING_LEN_MASK;
	if (total < 8 || (total & 7) || total > r->cap - off)
		return DEC_BAD;
	/* never pos + total: positions come from shared memory, and one near
	 * 2^64 would wrap the sum past the check */
	if (*tail < pos || total > *tail - pos) {
		/* acquire: a committed record's tail CAS happened before its
		 * commit, so a fresh tail covers it unless the word is garbage. */
		*tail = shmq_load_acquire(&r->h->tail);
		if (*tail < pos || total > *tail - pos)
			return DEC_BAD;
	}
	*total_out = (uint32_t)total;
	if (w & SHMQ_RING_LEN_PAD)
		return 0;
	if (total < REC_HDR || total > r->max_total)
		return DEC_BAD;
	const struct shmq_ring_rec *rec = rec_at(r, pos);
	const uint8_t *base = (const uint8_t *)rec;
	uint16_t type = rec->type;
	uint16_t count = rec->count;
	uint32_t pid = rec->producer_id;
	uint32_t plen = rec->payload_len;
	if (type == SHMQ_RING_REC_BATCH) {
		if (count == 0 || count > SHMQ_RING_BATCH_MAX || plen != total - REC_HDR)
			return DEC_BAD;
		if (count > room)
			return DEC_FULL;
		uint64_t o = REC_HDR;
		for (unsigned i = 0; i < count; i++) {
			if (o + INNER_HDR > total)
				return DEC_BAD;
			const struct shmq_ring_inner *in = (const void *)(base + o);
			uint32_t ilen = in->len;
			uint16_t itype = in->type;
			if (ilen > r->max_msg || itype < SHMQ_RING_TYPE_USER || in->index != i)
				return DEC_BAD;
			uint64_t step = INNER_HDR + align8(ilen);
			if (o + step > total)
				return DEC_BAD;
			msgs[i] = (struct shmq_ring_msg){
				.data = base + o + INNER_HDR, .len = ilen, .type = itype,
				.index = (uint16_t)i, .producer_id = pid, .count = count,
				.pos = pos, .next_pos = pos + total,
			};
			o += step;
		}
		if (o != total)
			return DEC_BAD;
		return count;
	}
	if (type < SHMQ_RING_TYPE_USER || count != 1 || plen > r->max_msg ||
	    align8((uint64_t)REC_HDR + plen) != total)
		return DEC_BAD;
	if (room == 0)
		return DEC_FULL;
	msgs[0] = (struct shmq_ring_msg){
		.data = base + REC_HDR, .len = plen, .type = type, .index = 0,
		.producer_id = pid, .count = 1, .pos = pos, .next_pos = pos + total,
	};
	return 1;
}

void shmq_ring_fence(shmq_ring_t *r)
{
	if (!r)
		return;
	struct shmq_ring_header *h = r->h;
	/* release: pairs with the acquire/relaxed checks in claim() and waits. */
	atomic_store_explicit(&h->fenced, 1, memory_order_release);
	wake_if_waiters(r, &h->data_seq, &h->data_waiters);
	wake_if_waiters(r, &h->space_seq, &h->space_waiters);
	wake_if_waiters(r, &h->mark_seq, &h->mark_waiters);
}

static int fence_corrupt(shmq_ring_t *r)
{
	shmq_ring_fence(r);
	return SHMQ_ECORRUPT;
}

static void zero_range(shmq_ring_t *r, uint64_t from, uint64_t to)
{
	uint64_t n = to - from;
	if (n > r->cap)
		n = r->cap;
	uint64_t off = from & r->mask;
	uint64_t first = r->cap - off < n ? r->cap - off : n;
	memset(r->data + off, 0, (size_t)first);
	if (n > first)
		memset(r->data, 0, (size_t)(n - first));
}

/* Gating reader: a fresh tail, remembered as a lower bound for later calls. */
static uint64_t gate_load_tail(shmq_ring_t *r)
{
	/* acquire: see decode(); a committed record's tail CAS came first. */
	uint64_t t = shmq_load_acquire(&r->h->tail);
	if (t > r->seen_tail)
		r->seen_tail = t;
	return t;
}

/* Gating reader: give [head, target) back to producers (I2, I3). */
static void release_to(shmq_ring_t *r, uint64_t head, uint64_t target)
{
	struct shmq_ring_header *h = r->h;
	if (target <= head)
		return;
	/* relaxed store + seq_cst fence: the announcement is ordered before
	 * the zeroing below; pairs with the non-gating readers' acquire fence
	 * and load of reclaim after they read (I3, G5). */
	shmq_store_relaxed(&h->reclaim, target);
	shmq_fence_seq_cst();
	zero_range(r, head, target);
	/* release: pairs with the producers' acquire load in claim(): they
	 * only reserve bytes they then see as zero (I2). */
	shmq_store_release(&h->head, target);
	wake_if_waiters(r, &h->space_seq, &h->space_waiters);
}

/*
 * Lazy release: keep consumed records readable by non-gating readers until
 * producers need the room. Release everything up to @p consumed when a
 * producer waits or was back-pressured; otherwise, when free space drops
 * below a quarter, release whole records until half the ring is free.
 */
static void maybe_release(shmq_ring_t *r, uint64_t consumed, uint64_t tail)
{
	struct shmq_ring_header *h = r->h;
	/* relaxed: only the gating reader writes head. */
	uint64_t head = shmq_load_relaxed(&h->head);
	if (head >= consumed)
		return;
	/* relaxed: a missed waiter is caught by its own wake of gate_wait() and
	 * by the flag below, which stays set until some release clears it. */
	bool want = shmq_load_relaxed(&h->space_waiters) != 0;
	/* relaxed pre-check keeps the common path free of RMWs; acq_rel
	 * exchange pairs with request_space()'s and clears the request that
	 * this release answers. */
	if (shmq_load_relaxed(&h->space_wanted) != 0 &&
	    atomic_exchange_explicit(&h->space_wanted, 0, memory_order_acq_rel) != 0)
		want = true;
	uint64_t target = consumed;
	if (!want) {
		uint64_t free_bytes = head + r->cap - tail;
		if (tail < head || free_bytes >= r->cap / 4)
			return;
		uint64_t goal = tail > r->cap / 2 ? tail - r->cap / 2 : 0;
		target = head;
		while (target < goal && target < consumed) {
			/* relaxed: a consumed record, validated when it was read;
			 * nobody writes it until we release it. */
			uint32_t w = shmq_load_relaxed(len_word(r, target));
			uint64_t t = w & SHMQ_RING_LEN_MASK;
			if (!len_committed(w) || t < 8 || (t & 7) || t > r->cap - (target & r->mask)) {
				target = consumed;
				break;
			}
			target += t;
		}
		if (target > consumed)
			target = consumed;
	}
	release_to(r, head, target);
}

/*
 * G6: the record at @p pos (< tail) is not committed. Track how long; once
 * past the unblock timeout, turn it into padding. Returns 1 when the len word
 * changed (re-read it), 0 to keep waiting, or SHMQ_ECORRUPT.
 */
static int unblock(shmq_ring_t *r, uint64_t pos)
{
	struct shmq_ring_header *h = r->h;
	uint64_t now = shmq_now_ns();
	if (!r->stuck_valid || r->stuck_pos != pos) {
		r->stuck_valid = true;
		r->stuck_continued = false;
		r->stuck_pos = pos;
		r->stuck_since = now;
		return 0;
	}
	if (now - r->stuck_since < r->unblock_ns)
		return 0;
	/* Callers saw pos < tail or a non-zero uncommitted word there (which
	 * I2 allows only below tail); tail only grows, so a fresh tail at or
	 * below pos is garbage, and the walk below needs a true bound. */
	uint64_t tail = gate_load_tail(r);
	if (pos >= tail)
		return fence_corrupt(r);
	/* The second half of a dead wrap reservation is the same event. The
	 * flag stays set until this position is padded or found alive, so a
	 * header CAS racing with us below is still treated as alive. */
	bool count = !r->stuck_continued;
	_Atomic uint32_t *w = len_word(r, pos);
	uint64_t off = pos & r->mask;
	/* acquire: pairs with the producer's claim/commit CAS. */
	uint32_t v = shmq_load_acquire(w);
	if (v != SHMQ_RING_LEN_POISON && (v & SHMQ_RING_LEN_RESERVED) && !count) {
		/* The wrap shortcut assumed a dead producer, but this one got its
		 * header in: it is alive, so it gets a full timeout of its own. */
		r->stuck_since = now;
		r->stuck_continued = false;
		return 0;
	}
	if (v != SHMQ_RING_LEN_POISON && (v & SHMQ_RING_LEN_RESERVED)) {
		/* Reserved, never committed: its length is known. */
		uint64_t total = v & ~SHMQ_RING_LEN_RESERVED;
		if ((v & SHMQ_RING_LEN_PAD) || total < REC_HDR || (total & 7) ||
		    total > r->cap - off || total > r->max_total || tail < pos || total > tail - pos)
			return fence_corrupt(r);
		/* release: readers acquiring the pad skip it. If the CAS fails,
		 * the producer committed just now: re-read. */
		if (!atomic_compare_exchange_strong_explicit(w, &v, SHMQ_RING_LEN_PAD | (uint32_t)total,
							     memory_order_release, memory_order_acquire))
			return 1;
		r->stuck_valid = false;
		r->stuck_continued = false;
	} else {
		if (v == 0) {
			/* The producer died (or stalls) between its tail CAS and
			 * its header CAS: the size is unknown. Claim the word. */
			uint32_t z = 0;
			if (!atomic_compare_exchange_strong_explicit(w, &z, SHMQ_RING_LEN_POISON,
								     memory_order_acq_rel, memory_order_acquire))
				return 1;
		} else if (v != SHMQ_RING_LEN_POISON) {
			return 1; /* committed meanwhile */
		}
		/* v == POISON here means a previous gating reader died mid-walk:
		 * resume it. Walk over zero words up to min(tail, end of buffer):
		 * the first non-zero word is a live producer's header (I2: a dead
		 * reservation is all zero, and a producer writes nothing before
		 * its header CAS), so the next record starts there. Each zero word
		 * is poisoned so a late producer's header CAS fails (ERECLAIMED)
		 * instead of writing into the padding. */
		uint64_t end = pos - off + r->cap;
		uint64_t limit = tail < end ? tail : end;
		uint64_t max_pad = SHMQ_RING_LEN_MASK & ~7u;
		if (limit - pos > max_pad)
			limit = pos + max_pad;
		uint64_t p = pos + 8;
		while (p < limit) {
			SHMQ_YIELD_POINT();
			uint32_t z = 0;
			/* acq_rel: claims the word against a producer's header CAS. */
			if (!atomic_compare_exchange_strong_explicit(len_word(r, p), &z, SHMQ_RING_LEN_POISON,
								     memory_order_acq_rel, memory_order_acquire) &&
			    z != SHMQ_RING_LEN_POISON)
				break;
			p += 8;
		}
		/* release: publishes the padding (the poisoned words inside it
		 * are never read; they are zeroed when the space is released). */
		shmq_store_release(w, SHMQ_RING_LEN_PAD | (uint32_t)(p - pos));
		if (p == end && tail > end) {
			/* The dead reservation probably continues at the start of
			 * the buffer (a wrap gap then its record): it has waited
			 * as long as this one did, so do not wait again. */
			r->stuck_pos = p;
			r->stuck_since = now - r->unblock_ns;
			r->stuck_continued = true;
		} else {
			r->stuck_valid = false;
			r->stuck_continued = false;
		}
	}
	/* relaxed: a statistic. */
	if (count)
		shmq_fetch_add_relaxed(&h->st_unblocked, 1);
	wake_if_waiters(r, &h->data_seq, &h->data_waiters);
	return 1;
}

int shmq_ring_gate_read(shmq_ring_t *r, struct shmq_ring_msg *msgs, unsigned max,
			uint64_t *next_pos)
{
	if (!r || !next_pos || (!msgs && max))
		return -EINVAL;
	struct shmq_ring_header *h = r->h;
	/* acquire: pairs with shmq_ring_fence()'s release store. */
	if (atomic_load_explicit(&h->fenced, memory_order_acquire))
		return SHMQ_EFENCED;
	/* relaxed: only the gating reader writes consumed and head. */
	uint64_t pos = shmq_load_relaxed(&h->consumed);
	uint64_t head = shmq_load_relaxed(&h->head);
	/* A tail seen earlier is a lower bound (tail only grows); a fresh one
	 * is loaded below only where the bound cannot answer. */
	uint64_t tail = r->seen_tail;
	if (pos > tail)
		tail = gate_load_tail(r);
	/* relaxed: only the gating reader writes reclaim. */
	uint64_t rec = shmq_load_relaxed(&h->reclaim);
	if (pos < head || pos > tail || (pos & 7) || tail - head > r->cap || rec < head || rec > pos)
		return fence_corrupt(r);
	/* A previous gating reader died between announcing reclaim and storing
	 * head: finish its release, so reclaim never moves backwards (I3). */
	if (rec > head)
		release_to(r, head, rec);
	/* Answer a space request even if the caller only reads. */
	maybe_release(r, pos, tail);
	unsigned n = 0;
	uint64_t start = pos;
	/* At most one lap per call, whatever a (garbage) tail reload says. */
	while (n < max && pos - start < r->cap) {
		if (pos >= tail) {
			/* acquire: pairs with the commit CAS, as in decode(). */
			uint32_t w = shmq_load_acquire(len_word(r, pos));
			/* A zero word: empty, or reserved before its header CAS;
			 * only tail tells (G6 starts timing the latter now). At
			 * head + capacity the word is the oldest unreleased
			 * record of the previous lap (a full ring). relaxed: only
			 * we write head (release_to() may just have moved it). */
			if (w == 0 || pos - shmq_load_relaxed(&h->head) >= r->cap) {
				tail = gate_load_tail(r);
				if (pos >= tail)
					break;
			}
			/* Else the word is this lap's, and non-zero only below
			 * tail (I2). Committed: decode() re-loads tail past the
			 * record. Reserved: DEC_STOP, and unblock() times it. */
		}
		uint32_t total = 0;
		int d = decode(r, pos, &tail, msgs + n, max - n, &total);
		if (tail > r->seen_tail)
			r->seen_tail = tail;
		if (d == DEC_STOP) {
			int u = unblock(r, pos);
			if (u > 0) {
				if (r->seen_tail > tail)
					tail = r->seen_tail; /* unblock() loaded it */
				continue;
			}
			if (u < 0)
				return u;
			break;
		}
		if (d == DEC_FULL)
			break;
		if (d == DEC_BAD)
			return fence_corrupt(r);
		tsan_acquire_record(r, pos);
		n += (unsigned)d;
		pos += total;
	}
	*next_pos = pos;
	return (int)n;
}

int shmq_ring_gate_consume(shmq_ring_t *r, uint64_t pos)
{
	if (!r)
		return -EINVAL;
	struct shmq_ring_header *h = r->h;
	/* relaxed: only the gating reader writes consumed. */
	uint64_t consumed = shmq_load_relaxed(&h->consumed);
	/* gate_read() handed out only positions up to a tail it saw. */
	uint64_t tail = r->seen_tail;
	if (pos > tail)
		tail = gate_load_tail(r);
	if (pos < consumed || pos > tail || (pos & 7))
		return -EINVAL;
	/* release: pairs with the acquire loads in shmq_ring_consumed() and the
	 * stats; a restarted gating reader resumes from here. */
	shmq_store_release(&h->consumed, pos);
	maybe_release(r, pos, tail);
	return 0;
}

int shmq_ring_read_check(const shmq_ring_t *r, uint64_t pos)
{
	/* acquire fence: orders the caller's reads of ring bytes before the
	 * load of reclaim (seqlock reader side, I3). */
	shmq_fence_acquire();
	/* relaxed: ordered by the fence above. */
	return shmq_load_relaxed(&r->h->reclaim) > pos ? SHMQ_EOVERRUN : 0;
}

/*
 * The end of the live window, head + capacity: no record reaches past it
 * (tail <= head + capacity, I1), and the slot of every position below it
 * belongs to that position's own lap or is zero, because the previous lap's
 * bytes there were zeroed before head moved past them (I2). Non-gating
 * readers bound records by it instead of by tail: head's line is written only
 * when the gating reader releases space (a few times per lap), whereas tail's
 * is CASed by every reservation, so loading tail per message cost a caught-up
 * reader one cross-core transfer and the producer's next tail CAS another.
 */
static uint64_t window_end(const shmq_ring_t *r)
{
	/* acquire: pairs with release_to()'s release store of head, made after
	 * it zeroed the previous lap's bytes below the new head (I2). */
	return shmq_load_acquire(&r->h->head) + r->cap;
}

int shmq_ring_read(shmq_ring_t *r, uint64_t *pos, struct shmq_ring_msg *msgs, unsigned max)
{
	if (!r || !pos || (!msgs && max))
		return -EINVAL;
	struct shmq_ring_header *h = r->h;
	uint64_t start = *pos, p = start;
	/* acquire: pairs with the gating reader's reclaim announcement. */
	if (shmq_load_acquire(&h->reclaim) > p)
		return SHMQ_EOVERRUN;
	if (p & 7)
		return -EINVAL;
	/* Positions handed out are <= tail <= head + capacity, and head only
	 * grows: anything beyond the window is the caller's error. At the window
	 * end (a full ring) the slot is the oldest record's: nothing new yet. */
	uint64_t end = window_end(r);
	if (p > end)
		return -EINVAL;
	/* A reader polling for the next record touches only its len word (the
	 * line the producer writes anyway) and lines that change once per lap:
	 * nothing is committed at p while that word is 0 or RESERVED (free space
	 * is zero, I2). acquire: pairs with the commit CAS, as in decode(). */
	if (p == end || !len_committed(shmq_load_acquire(len_word(r, p))))
		return shmq_ring_read_check(r, start) ? SHMQ_EOVERRUN : 0;
	unsigned n = 0;
	while (n < max && p - start < r->cap) {
		if (p >= end) {
			end = window_end(r);
			if (p >= end)
				break;
		}
		uint32_t total = 0;
		/* decode() checks the record against `end` and, if it seems to
		 * pass it, against a fresh tail (G8): garbage gives DEC_BAD. */
		int d = decode(r, p, &end, msgs + n, max - n, &total);
		if (d == DEC_STOP || d == DEC_FULL)
			break;
		if (d == DEC_BAD) /* torn by reclamation, or real garbage? */
			return shmq_ring_read_check(r, start) ? SHMQ_EOVERRUN : SHMQ_ECORRUPT;
		tsan_acquire_record(r, p);
		n += (unsigned)d;
		p += total;
	}
	if (shmq_ring_read_check(r, start))
		return SHMQ_EOVERRUN;
	*pos = p;
	return (int)n;
}

uint64_t shmq_ring_oldest(const shmq_ring_t *r)
{
	/* acquire: pairs with release_to(); reclaim is a record boundary. */
	return shmq_load_acquire(&r->h->reclaim);
}

uint64_t shmq_ring_tail(const shmq_ring_t *r)
{
	/* acquire: a record boundary; readers stop there anyway. */
	return shmq_load_acquire(&r->h->tail);
}

uint64_t shmq_ring_consumed(const shmq_ring_t *r)
{
	/* acquire: pairs with shmq_ring_gate_consume()'s release store. */
	return shmq_load_acquire(&r->h->consumed);
}

/* ------------------------------------------------------------------ */
/* Anchor and marks                                                    */

void shmq_ring_publish_anchor(shmq_ring_t *r, const struct shmq_ring_anchor *a)
{
	if (!r || !a)
		return;
	struct shmq_ring_header *h = r->h;
	/* relaxed: the gating reader is the only writer. */
	uint64_t s = shmq_load_relaxed(&h->anchor_seq);
	if (s & 1)
		s++; /* a previous writer died mid-update: start a fresh round */
	shmq_store_relaxed(&h->anchor_seq, s + 1);
	/* release fence: the odd seq is visible before the fields change;
	 * pairs with the reader's acquire fence before its second seq load. */
	shmq_fence_release();
	shmq_store_relaxed(&h->anchor_pos, a->pos);
	shmq_store_relaxed(&h->anchor_queue_offset, a->queue_offset);
	/* release: publishes the fields; pairs with the reader's acquire load. */
	shmq_store_release(&h->anchor_seq, s + 2);
}

int shmq_ring_read_anchor(const shmq_ring_t *r, struct shmq_ring_anchor *a)
{
	if (!r || !a)
		return -EINVAL;
	const struct shmq_ring_header *h = r->h;
	/* bounded: the seq is shared memory, and an odd value left there (a
	 * writer that died, or a hostile client) must not stall the caller */
	for (unsigned i = 0; i < 128; i++) {
		/* acquire: pairs with the writer's final release store. */
		uint64_t s1 = shmq_load_acquire((_Atomic uint64_t *)&h->anchor_seq);
		if (s1 == 0)
			return SHMQ_EMPTY;
		if (!(s1 & 1)) {
			/* relaxed: validated by the seq re-check below. */
			uint64_t pos = shmq_load_relaxed((_Atomic uint64_t *)&h->anchor_pos);
			uint64_t qo = shmq_load_relaxed((_Atomic uint64_t *)&h->anchor_queue_offset);
			/* acquire fence: field loads before the second seq load. */
			shmq_fence_acquire();
			if (shmq_load_relaxed((_Atomic uint64_t *)&h->anchor_seq) == s1) {
				a->pos = pos;
				a->queue_offset = qo;
				return 0;
			}
		}
		if (i < 64)
			shmq_cpu_relax();
		else
			sched_yield();
	}
	return -EAGAIN; /* the writer died mid-update; the next publish fixes it */
}

void shmq_ring_publish_mark(shmq_ring_t *r, enum shmq_ring_mark_kind k, uint64_t pos)
{
	if (!r || (unsigned)k >= SHMQ_RING_MARK_COUNT)
		return;
	struct shmq_ring_header *h = r->h;
	/* relaxed: the CAS below re-checks. */
	uint64_t cur = shmq_load_relaxed(&h->marks[k]);
	/* release: pairs with shmq_ring_mark()'s acquire; marks only grow. */
	while (cur < pos && !atomic_compare_exchange_weak_explicit(&h->marks[k], &cur, pos,
								   memory_order_release, memory_order_relaxed))
		;
	wake_if_waiters(r, &h->mark_seq, &h->mark_waiters);
}

uint64_t shmq_ring_mark(const shmq_ring_t *r, enum shmq_ring_mark_kind k)
{
	if (!r || (unsigned)k >= SHMQ_RING_MARK_COUNT)
		return 0;
	/* acquire: pairs with shmq_ring_publish_mark(). */
	return shmq_load_acquire((_Atomic uint64_t *)&r->h->marks[k]);
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */

static int fenced_now(const shmq_ring_t *r)
{
	/* acquire: pairs with shmq_ring_fence(). */
	return atomic_load_explicit(&r->h->fenced, memory_order_acquire) ? SHMQ_EFENCED : 0;
}

/* Record at pos committed or padded (or already reclaimed: the read says so). */
static int record_ready(shmq_ring_t *r, uint64_t pos)
{
	/* acquire: pairs with the reclaim announcement. */
	if (shmq_load_acquire(&r->h->reclaim) > pos)
		return 1;
	/* The slot is pos's own only inside the window (see window_end()); a
	 * committed word there is the previous lap's oldest record. */
	if (pos >= window_end(r))
		return 0;
	/* acquire: pairs with the commit CAS (G2). */
	return len_committed(shmq_load_acquire(len_word(r, pos))) ? 1 : 0;
}

static int cond_data(shmq_ring_t *r, const struct wait_arg *a)
{
	int f = fenced_now(r);
	return f ? f : record_ready(r, a->pos);
}

int shmq_ring_wait_data(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	struct wait_arg a = { .pos = pos, .poll_gap = 1 };
	return ring_wait(r, &r->h->data_seq, &r->h->data_waiters, cond_data, &a, timeout_ns, NULL);
}

static int cond_space(shmq_ring_t *r, const struct wait_arg *a)
{
	int f = fenced_now(r);
	if (f)
		return f;
	/* acquire: as in claim(). */
	uint64_t tail = shmq_load_acquire(&r->h->tail);
	uint64_t head = shmq_load_acquire(&r->h->head);
	return tail + wrap_gap(r, tail, a->len) + a->len <= head + r->cap;
}

int shmq_ring_wait_space(shmq_ring_t *r, uint32_t len, uint64_t timeout_ns)
{
	if (!r)
		return -EINVAL;
	if (len > r->max_total)
		return SHMQ_ETOOBIG;
	struct wait_arg a = { .len = align8(len ? len : 8), .poll_gap = 1 };
	return ring_wait(r, &r->h->space_seq, &r->h->space_waiters, cond_space, &a, timeout_ns,
			 request_space_sleeping);
}

static int cond_mark(shmq_ring_t *r, const struct wait_arg *a)
{
	int f = fenced_now(r);
	return f ? f : shmq_ring_mark(r, (enum shmq_ring_mark_kind)a->kind) >= a->pos;
}

int shmq_ring_wait_mark(shmq_ring_t *r, enum shmq_ring_mark_kind k, uint64_t pos,
			uint64_t timeout_ns)
{
	if (!r || (unsigned)k >= SHMQ_RING_MARK_COUNT)
		return -EINVAL;
	struct wait_arg a = { .pos = pos, .kind = (unsigned)k, .poll_gap = 1 };
	return ring_wait(r, &r->h->mark_seq, &r->h->mark_waiters, cond_mark, &a, timeout_ns, NULL);
}

/*
 * The gating reader has something to do: the record at pos is committed, a
 * producer wants space that a release can give, or the record at pos has been
 * reserved past the unblock timeout (gate_read pads it out).
 */
static int cond_gate(shmq_ring_t *r, const struct wait_arg *a)
{
	struct shmq_ring_header *h = r->h;
	int f = fenced_now(r);
	if (f)
		return f;
	if (record_ready(r, a->pos))
		return 1;
	/* relaxed/acquire: hints; a stale value is caught on the next wake. */
	if ((shmq_load_relaxed(&h->space_waiters) || shmq_load_acquire(&h->space_wanted)) &&
	    shmq_load_relaxed(&h->head) < shmq_load_relaxed(&h->consumed))
		return 1;
	if (a->pos < shmq_load_acquire(&h->tail)) { /* acquire: as in record_ready() */
		uint64_t now = shmq_now_ns();
		if (!r->stuck_valid || r->stuck_pos != a->pos) {
			r->stuck_valid = true;
			r->stuck_continued = false;
			r->stuck_pos = a->pos;
			r->stuck_since = now;
		}
		return now - r->stuck_since >= r->unblock_ns;
	}
	return 0;
}

static int gate_wait(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns, bool no_spin)
{
	if (!r)
		return -EINVAL;
	/* Reservations do not wake anyone, so sleep in slices no longer than
	 * half the unblock timeout to notice a stuck record in time. */
	uint64_t slice = r->unblock_ns / 2 ? r->unblock_ns / 2 : 1;
	uint64_t start = shmq_now_ns();
	struct wait_arg a = { .pos = pos, .poll_gap = GATE_POLL_GAP, .no_spin = no_spin };
	for (;;) {
		uint64_t left = timeout_ns;
		if (timeout_ns != UINT64_MAX) {
			uint64_t spent = shmq_now_ns() - start;
			left = spent >= timeout_ns ? 0 : timeout_ns - spent;
		}
		uint64_t t = left < slice ? left : slice;
		int rc = ring_wait(r, &r->h->data_seq, &r->h->data_waiters, cond_gate, &a, t, NULL);
		if (rc != -ETIMEDOUT || t == left)
			return rc;
	}
}

int shmq_ring_gate_wait(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns)
{
	return gate_wait(r, pos, timeout_ns, false);
}

int shmq_ring_gate_sleep(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns)
{
	return gate_wait(r, pos, timeout_ns, true);
}

/* ------------------------------------------------------------------ */
/* Health                                                              */

void shmq_ring_stats(const shmq_ring_t *r, struct shmq_ring_stats *st)
{
	if (!r || !st)
		return;
	struct shmq_ring_header *h = r->h;
	/* relaxed throughout: a monitoring snapshot, not a consistent cut. */
	*st = (struct shmq_ring_stats){
		.tail = shmq_load_relaxed(&h->tail),
		.head = shmq_load_relaxed(&h->head),
		.consumed = shmq_load_relaxed(&h->consumed),
		.oldest = shmq_load_relaxed(&h->reclaim),
		.unblocked = shmq_load_relaxed(&h->st_unblocked),
		.reclaimed_commits = shmq_load_relaxed(&h->st_reclaimed_commits),
		.backpressured = shmq_load_relaxed(&h->st_backpressured),
		.futex_wakes = shmq_load_relaxed(&h->st_futex_wakes),
		.fenced = shmq_load_relaxed(&h->fenced) != 0,
	};
}
