/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shmq/ring.h
 * @brief Multi-producer byte ring in shared memory (one per topic queue).
 *
 * ## Contract
 *
 * A ring is a tmpfs-backed file (it outlives a crashed process) holding a
 * header and a power-of-two data area. Positions are 64-bit byte counters that
 * only grow; the byte at position p lives at data[p & (capacity - 1)].
 *
 * Roles and what may run concurrently:
 *  - **Producers** (any number, any processes): shmq_ring_reserve(),
 *    shmq_ring_batch_reserve(), shmq_ring_commit(), shmq_ring_batch_commit(),
 *    shmq_ring_write(). A shmq_ring_claim/batch belongs to one thread.
 *  - **The gating reader** (exactly one at a time, normally the broker's
 *    persister): shmq_ring_gate_read(), shmq_ring_gate_consume(),
 *    shmq_ring_publish_anchor(), shmq_ring_publish_mark(), shmq_ring_fence().
 *    It alone frees space; producers never pass `head + capacity`.
 *  - **Non-gating readers** (any number, any processes, each with its own
 *    cursor): shmq_ring_read(), shmq_ring_read_check(). They never slow a
 *    producer; if they fall behind they are told so (SHMQ_EOVERRUN).
 *  - Anyone: shmq_ring_stats(), shmq_ring_read_anchor(), shmq_ring_mark(),
 *    shmq_ring_wait_*().
 *
 * Progress:
 *  - Reservation is lock-free (a CAS on the tail; a failed CAS means another
 *    producer succeeded). Commit is wait-free (one CAS on the record's length
 *    word, which can only fail if the gating reader reclaimed the record).
 *  - Readers are wait-free per call; they stop at the first uncommitted
 *    record (head-of-line), so a stalled producer delays readers until it
 *    commits or the gating reader pads its record out after the unblock
 *    timeout (G6).
 *
 * Numbered guarantees (tests cite them as G1..G8):
 *  - **G1 per-producer FIFO**: records reserved by one thread appear to every
 *    reader in the order they were reserved.
 *  - **G2 commit visibility**: a reader that sees a record sees all bytes its
 *    producer wrote before shmq_ring_commit() (release store of the length,
 *    acquire load by readers).
 *  - **G3 ring order**: every reader sees the same sequence of records (ring
 *    order = reservation order), the gating reader included; a reader never
 *    skips a committed record except by reporting SHMQ_EOVERRUN.
 *  - **G4 bounded space**: tail <= head + capacity at all times; a producer
 *    that does not fit gets SHMQ_BACK_PRESSURED (nothing reserved) and may
 *    wait with shmq_ring_wait_space().
 *  - **G5 overrun detection**: a non-gating reader whose bytes were reclaimed
 *    while (or before) it read them gets SHMQ_EOVERRUN, never torn data:
 *    shmq_ring_read() checks before returning and shmq_ring_read_check()
 *    re-checks after the caller used the zero-copy pointers.
 *  - **G6 unblocking**: a record reserved but not committed within
 *    `unblock_timeout_ns` (a dead or stalled producer) is turned into padding
 *    by the gating reader; the event is counted. That producer's commit then
 *    returns SHMQ_ERECLAIMED. No committed record is ever padded out.
 *  - **G7 batch atomicity**: the messages of one batch become visible together
 *    (one release store) and occupy consecutive places in ring order.
 *  - **G8 untrusted memory**: readers validate every length, type and offset
 *    they read; garbage yields SHMQ_ECORRUPT (gating reader: the ring is then
 *    fenced), never a crash or an out-of-bounds access.
 *
 * Waiting: shmq_ring_wait_data()/shmq_ring_wait_space()/shmq_ring_wait_mark()
 * spin briefly, then sleep on a futex word in the header. A waker skips the
 * futex syscall when its waiter count is zero.
 *
 * Thread safety: a shmq_ring_t handle may be shared by threads of one
 * process; the roles above say which calls may overlap.
 */
#ifndef SHMQ_RING_H
#define SHMQ_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmq/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmq_ring shmq_ring_t;

/** Record types at or above this value are the caller's; below are reserved. */
#define SHMQ_RING_TYPE_USER 16u

/** Options for shmq_ring_create(); grow only at the end (conventions 3). */
struct shmq_ring_opts {
	size_t sz;                   /**< sizeof(struct shmq_ring_opts) */
	uint64_t capacity;           /**< data bytes, power of two, 4 KiB..1 TiB; default 4 MiB */
	uint32_t max_msg;            /**< largest payload accepted; default and max capacity/4 */
	uint64_t unblock_timeout_ns; /**< G6 timeout; default 1 s */
	uint32_t mode;               /**< file mode; default 0600 */
	bool prefault;               /**< touch every page at create; true when opts is NULL, else as set */
};
#define SHMQ_RING_OPTS(name, ...) \
	struct shmq_ring_opts name = { .sz = sizeof(struct shmq_ring_opts), __VA_ARGS__ }

/**
 * @brief Create a ring file at @p path (O_EXCL) and map it.
 * @param opts NULL for defaults.
 * @return 0, -EEXIST, -EINVAL (bad option), or another -errno.
 */
int shmq_ring_create(const char *path, const struct shmq_ring_opts *opts, shmq_ring_t **out);

/**
 * @brief Attach to an existing ring by path or by a file descriptor (e.g. one
 * received over the broker's control socket; the fd is duplicated).
 * @return 0; SHMQ_ELAYOUT (magic, version or layout fingerprint differ);
 *         SHMQ_ECORRUPT (header field out of range, or file size does not
 *         match the header); or -errno.
 */
int shmq_ring_attach(const char *path, shmq_ring_t **out);
int shmq_ring_attach_fd(int fd, shmq_ring_t **out);

/** @brief Unmap and close. Accepts NULL. The file stays. */
void shmq_ring_close(shmq_ring_t *r);

/** @brief The ring's file descriptor (owned by the handle), for fd passing. */
int shmq_ring_fd(const shmq_ring_t *r);
uint64_t shmq_ring_capacity(const shmq_ring_t *r);
uint32_t shmq_ring_max_msg(const shmq_ring_t *r);
/** @brief The shared mapping (header + data), e.g. to guard it against the
 *  file shrinking under it (the broker: common/shm_guard.h). */
void shmq_ring_mapping(const shmq_ring_t *r, void **addr, size_t *len);

/* ------------------------------------------------------------------ */
/* Producers                                                           */

/** A reserved, uncommitted record: fill data[0..len), then commit. */
struct shmq_ring_claim {
	void *data;      /**< 8-byte aligned payload area */
	uint32_t len;    /**< payload bytes */
	uint64_t pos;    /**< ring position of the record (for the library) */
};

/**
 * @brief Reserve room for one message of @p len bytes.
 * @param producer_id stored in the record; identifies the owner for G6.
 * @param type >= SHMQ_RING_TYPE_USER.
 * @return 0; SHMQ_BACK_PRESSURED (G4, nothing reserved); SHMQ_ETOOBIG;
 *         SHMQ_EFENCED; -EINVAL.
 */
int shmq_ring_reserve(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
		      uint32_t len, struct shmq_ring_claim *c);

/** @return 0, or SHMQ_ERECLAIMED if the record was padded out (G6). */
int shmq_ring_commit(shmq_ring_t *r, struct shmq_ring_claim *c);

/** @brief reserve + copy + commit. Same returns as reserve/commit. */
int shmq_ring_write(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
		    const void *buf, uint32_t len);

/** Up to this many messages in one batch. */
#define SHMQ_RING_BATCH_MAX 1024u

/** A reserved batch: one ring record carrying @c count messages (G7). */
struct shmq_ring_batch {
	uint64_t pos;        /**< ring position of the batch record */
	uint32_t count;
	uint32_t total;      /**< bytes reserved in the ring */
	void *base;          /**< for the library */
	const uint32_t *lens; /**< the caller's lengths: read until the commit */
};

/**
 * @brief Reserve, with one CAS, room for @p count messages of lens[i] bytes
 * of the same @p type. Payload areas are 8-byte aligned. @p lens must stay
 * valid until the commit: shmq_ring_batch_data() places messages by it, never
 * by the inner headers in the ring (shared memory another process may have
 * overwritten since).
 * @return as shmq_ring_reserve(); -EINVAL if count is 0 or > SHMQ_RING_BATCH_MAX.
 */
int shmq_ring_batch_reserve(shmq_ring_t *r, uint32_t producer_id, uint16_t type,
			    uint32_t count, const uint32_t *lens,
			    struct shmq_ring_batch *b);
/** @brief Payload area of message @p i of a reserved batch. */
void *shmq_ring_batch_data(const struct shmq_ring_batch *b, uint32_t i);
/** @brief Publish all messages of the batch with one release store. */
int shmq_ring_batch_commit(shmq_ring_t *r, struct shmq_ring_batch *b);

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/** One message as readers see it; data points into the ring (zero copy). */
struct shmq_ring_msg {
	const void *data;
	uint32_t len;
	uint16_t type;
	uint16_t index;       /**< place inside its batch record; 0 for singles */
	uint32_t producer_id;
	uint32_t count;       /**< messages in its record (1 for singles) */
	uint64_t pos;         /**< position of its record */
	uint64_t next_pos;    /**< position of the record after it */
};

/**
 * @brief Gating reader: read up to @p max committed messages from
 * `consumed` onward (the position after the last shmq_ring_gate_consume()),
 * stopping at the first uncommitted record, without freeing anything.
 * Padding is skipped. A batch record is returned whole or not at all (so @p max
 * must be >= SHMQ_RING_BATCH_MAX to be sure to make progress). If the record
 * at the read position has stayed uncommitted longer than the unblock timeout,
 * it is padded out first (G6).
 * @param next_pos set to the position after the last message returned.
 * @return number of messages (0 if none committed); SHMQ_ECORRUPT (the ring
 *         is fenced); SHMQ_EFENCED.
 */
int shmq_ring_gate_read(shmq_ring_t *r, struct shmq_ring_msg *msgs, unsigned max,
			uint64_t *next_pos);

/**
 * @brief Gating reader: everything before @p pos (a next_pos returned by
 * shmq_ring_gate_read()) is consumed. Space is freed lazily so that recent
 * records stay readable by non-gating readers: the ring keeps consumed
 * records until producers need the room (free space below a quarter of the
 * capacity, or a producer waiting for space).
 * @return 0 or -EINVAL (pos outside [consumed, tail]).
 */
int shmq_ring_gate_consume(shmq_ring_t *r, uint64_t pos);

/**
 * @brief Non-gating reader: read up to @p max committed messages starting at
 * *pos (a record boundary: shmq_ring_oldest(), shmq_ring_tail() or a
 * next_pos), advancing *pos. The pointers stay valid until the caller's
 * shmq_ring_read_check() says they were not reclaimed (G5).
 * @return number of messages; 0 if none committed yet; SHMQ_EOVERRUN (*pos
 *         is no longer in the ring; restart from shmq_ring_oldest() or
 *         another source); SHMQ_ECORRUPT; -EINVAL (*pos not 8-aligned or
 *         past the tail).
 */
int shmq_ring_read(shmq_ring_t *r, uint64_t *pos, struct shmq_ring_msg *msgs, unsigned max);

/** @return 0 if bytes from @p pos onward were not reclaimed, else SHMQ_EOVERRUN. */
int shmq_ring_read_check(const shmq_ring_t *r, uint64_t pos);

/** Oldest position still readable (a record boundary), and the tail. */
uint64_t shmq_ring_oldest(const shmq_ring_t *r);
uint64_t shmq_ring_tail(const shmq_ring_t *r);
/** Position after the gating reader's last consume (its read position). */
uint64_t shmq_ring_consumed(const shmq_ring_t *r);

/* ------------------------------------------------------------------ */
/* Published positions (the broker's persister writes these)           */

/** Consistent (ring position, queue offset) pair: the message whose record
 * starts at @c pos has queue offset @c queue_offset. */
struct shmq_ring_anchor {
	uint64_t pos;
	uint64_t queue_offset;
};
void shmq_ring_publish_anchor(shmq_ring_t *r, const struct shmq_ring_anchor *a);
/** @return 0, or SHMQ_EMPTY if no anchor was ever published; -EAGAIN if a
 * writer died mid-update (the next publish repairs it). */
int shmq_ring_read_anchor(const shmq_ring_t *r, struct shmq_ring_anchor *a);

/** Monotonic positions published for producers/consumers to wait on. */
enum shmq_ring_mark_kind {
	SHMQ_RING_MARK_PERSISTED = 0, /**< records before it are in the commitlog */
	SHMQ_RING_MARK_FLUSHED = 1,   /**< records before it are durable */
	SHMQ_RING_MARK_COUNT
};
/** @brief Raise a mark (never lowers it) and wake its waiters. */
void shmq_ring_publish_mark(shmq_ring_t *r, enum shmq_ring_mark_kind k, uint64_t pos);
uint64_t shmq_ring_mark(const shmq_ring_t *r, enum shmq_ring_mark_kind k);

/* ------------------------------------------------------------------ */
/* Waiting (spin, then futex)                                          */

/**
 * @brief Wait until the record at @p pos is committed (or was padded out).
 * @param timeout_ns 0 = do not sleep; UINT64_MAX = forever.
 * @return 0 when data is there; -ETIMEDOUT; -EINTR; SHMQ_EFENCED.
 */
int shmq_ring_wait_data(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns);
/** @brief Wait until @p bytes (a whole record, header included) would fit. */
int shmq_ring_wait_space(shmq_ring_t *r, uint32_t len, uint64_t timeout_ns);
/** @brief Wait until mark @p k reaches @p pos. */
int shmq_ring_wait_mark(shmq_ring_t *r, enum shmq_ring_mark_kind k, uint64_t pos,
			uint64_t timeout_ns);
/** @brief Gating reader: wait until the record at @p pos is committed, a
 * producer asks for space that a release can give, or the record at @p pos
 * has stayed reserved past the unblock timeout (shmq_ring_gate_read() then
 * pads it out, G6). It looks first after a short gap and then polls sparsely
 * (~1.6 us apart) for up to ~50 us before sleeping: the gating reader batches,
 * and a reader polling back to back would steal the line each producer is
 * writing, once per message. */
int shmq_ring_gate_wait(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns);
/** @brief shmq_ring_gate_wait() that sleeps on the futex at once, with no spin:
 * for a gating reader that has been idle a while (a spin per wake-up of an
 * idle reader would burn ~5 % of a CPU at a 1 ms wake-up period). */
int shmq_ring_gate_sleep(shmq_ring_t *r, uint64_t pos, uint64_t timeout_ns);

/* ------------------------------------------------------------------ */
/* Health                                                              */

struct shmq_ring_stats {
	uint64_t tail, head, consumed, oldest;
	uint64_t unblocked;        /**< records padded out (G6) */
	uint64_t reclaimed_commits;/**< commits refused with SHMQ_ERECLAIMED */
	uint64_t backpressured;    /**< reservations refused for space */
	uint64_t futex_wakes;      /**< wake syscalls made */
	bool fenced;
};
void shmq_ring_stats(const shmq_ring_t *r, struct shmq_ring_stats *st);

/** @brief Refuse further producers (after corruption was detected). */
void shmq_ring_fence(shmq_ring_t *r);

#ifdef __cplusplus
}
#endif
#endif /* SHMQ_RING_H */
