/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoint (two slots by sequence parity, checkpoint_layout.h) and the
 * abort file. Internal to the store; used by the flusher (writes) and by
 * open/recovery (reads). One writer at a time.
 */
#ifndef SHMQ_BROKER_STORE_CHECKPOINT_H
#define SHMQ_BROKER_STORE_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

struct shmq_ckpt_state {
	uint64_t seq;
	uint64_t cl_flushed;
	uint64_t cq_flushed;
	uint64_t index_flushed;
	uint64_t store_ts_ms;
};

typedef struct shmq_ckpt shmq_ckpt_t;

/* Open (creating) <dir>/checkpoint and load the newest valid slot into *st.
 * @return 1 if a valid slot was found, 0 if none (st zeroed), or -errno. */
int shmq_ckpt_open(const char *dir, shmq_ckpt_t **out, struct shmq_ckpt_state *st);
void shmq_ckpt_close(shmq_ckpt_t *c);
/* Write @p st with seq = last seq + 1 into slot seq&1, then fdatasync. The
 * caller flushed the data first. st->seq is updated. */
int shmq_ckpt_write(shmq_ckpt_t *c, struct shmq_ckpt_state *st);
/* Parse the two slots of a checkpoint image (1024 bytes); 1 valid, 0 none. */
int shmq_ckpt_pick(const uint8_t *file, uint64_t len, struct shmq_ckpt_state *st);

/* Abort file: create it (fsync'ed); *existed tells whether it was there. */
int shmq_abort_create(const char *dir, bool *existed);
/* Clean close: remove it (fsync'ed directory). */
int shmq_abort_remove(const char *dir);

#endif
